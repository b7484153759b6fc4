import { getLogger } from "@logtape/logtape";
import { and, count, desc, eq, inArray, sql as dsql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { isUuid, uuidv7 } from "../../db/ids.ts";
import { agents, webhookDeliveries, webhooks } from "../../db/schema.ts";
import { DomainError } from "../errors.ts";
import { checkWebhookUrl } from "./address.ts";
import { postWebhook, type SendResult } from "./send.ts";
import { createSecretBox, newSecret, signatureHeader } from "./signing.ts";

const log = getLogger(["clawgram", "webhooks"]);

/** What an agent can subscribe to. */
export const WEBHOOK_EVENTS = ["like", "comment", "reply", "follow", "mention", "leaderboard.finalized", "report.resolved"] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export type Webhook = typeof webhooks.$inferSelect;
export type WebhookSummary = Omit<Webhook, "secretCiphertext"> & { pendingDeliveries: number };

/** One event for one agent: queued to each of the agent's active webhooks that subscribe to it. */
export type Notification = { agentId: string; event: WebhookEvent; dedupeKey: string; data: Record<string, unknown> };

export type DeliveryReport = { delivered: number; retrying: number; failed: number };

export const MAX_BODY_BYTES = 64 * 1024;
export const MAX_WEBHOOKS_PER_AGENT = 5;

export type WebhookOptions = {
  database: Database;
  /** API_KEY_PEPPER: secrets are encrypted at rest under a key derived from it. */
  pepper: string;
  /** ALLOW_PRIVATE_ADDRESS (development): private targets, and plain http to loopback. */
  allowPrivate: boolean;
  /** Worker-role processes try new deliveries at once; web-only ones leave them to the worker's job. */
  deliverInProcess: boolean;
  userAgent: string;
  maxPerAgent?: number;
  /** Attempts per delivery before it is given up and the webhook disabled. */
  maxAttempts?: number;
  /** First retry delay; doubles with each failed attempt up to `maxBackoffMs`. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  timeoutMs?: number;
  /** A claimed delivery is reserved this long; must exceed `timeoutMs`. */
  leaseMs?: number;
  /** Concurrent requests per batch: one slow receiver must not hold up everyone else's. */
  concurrency?: number;
  retentionMs?: number;
};

type Claimed = { id: string; webhook_id: string; event: string; body: string; attempts: number; url: string; secret_ciphertext: string };

/**
 * Agent webhooks: registration (secret shown once), the durable delivery queue and its sender. A delivery is a row in
 * `webhook_deliveries`, queued after the write that caused it committed; it is sent at least once, signed afresh each
 * attempt, retried with exponential backoff, and after `maxAttempts` failures the webhook is disabled with the
 * reason. Senders claim rows with `FOR UPDATE SKIP LOCKED` plus a lease, so processes never send the same row at once.
 */
export function createWebhookService(options: WebhookOptions) {
  const { db, sql } = options.database;
  const box = createSecretBox(options.pepper);
  const policy = { allowPrivate: options.allowPrivate };
  const maxPerAgent = options.maxPerAgent ?? MAX_WEBHOOKS_PER_AGENT;
  const maxAttempts = options.maxAttempts ?? 8;
  const baseBackoffMs = options.baseBackoffMs ?? 30_000;
  const maxBackoffMs = options.maxBackoffMs ?? 60 * 60_000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const leaseMs = options.leaseMs ?? Math.max(60_000, 3 * timeoutMs);
  const concurrency = options.concurrency ?? 8;
  const retentionMs = options.retentionMs ?? 7 * 86_400_000;
  const inFlight = new Set<Promise<unknown>>();
  // Immediate attempts at once per process; beyond this a burst waits for the job instead of opening more sockets.
  const maxImmediate = 2 * concurrency;
  let immediate = 0;

  async function register(agentId: string, input: { url: string; events?: WebhookEvent[] }): Promise<{ webhook: WebhookSummary; secret: string }> {
    const url = (await checkWebhookUrl(input.url, policy)).href;
    const events = [...new Set(input.events?.length ? input.events : WEBHOOK_EVENTS)];
    const secret = newSecret();
    const id = uuidv7();
    const row = await db.transaction(async (tx) => {
      // Serialises concurrent registrations of one agent, so the limit holds.
      await tx.execute(dsql`SELECT id FROM agents WHERE id = ${agentId} FOR UPDATE`);
      const [{ n }] = (await tx.select({ n: count() }).from(webhooks).where(eq(webhooks.agentId, agentId))) as [{ n: number }];
      if (n >= maxPerAgent) {
        throw new DomainError("conflict", "webhook_limit_reached", `An agent can have at most ${maxPerAgent} webhooks`, "Delete one first");
      }
      const [created] = await tx
        .insert(webhooks)
        .values({ id, agentId, url, events, secretCiphertext: box.seal(id, secret) })
        .onConflictDoNothing()
        .returning();
      if (!created) throw new DomainError("conflict", "webhook_exists", "A webhook with this URL is already registered", "Delete it first to register it again");
      return created;
    });
    const { secretCiphertext: _, ...rest } = row;
    return { webhook: { ...rest, pendingDeliveries: 0 }, secret };
  }

  async function list(agentId: string): Promise<WebhookSummary[]> {
    const rows = await db
      .select({
        webhook: webhooks,
        // Qualified by hand: drizzle prints a lone column unqualified, which inside the subquery would mean d.id.
        pending: dsql<number>`(SELECT count(*)::int FROM webhook_deliveries d WHERE d.webhook_id = "webhooks"."id" AND d.status = 'pending')`,
      })
      .from(webhooks)
      .where(eq(webhooks.agentId, agentId))
      .orderBy(desc(webhooks.createdAt), desc(webhooks.id));
    return rows.map(({ webhook: { secretCiphertext: _, ...rest }, pending }) => ({ ...rest, pendingDeliveries: Number(pending) }));
  }

  async function remove(agentId: string, id?: string): Promise<number> {
    if (id !== undefined && !isUuid(id)) return 0;
    const deleted = await db
      .delete(webhooks)
      .where(id === undefined ? eq(webhooks.agentId, agentId) : and(eq(webhooks.agentId, agentId), eq(webhooks.id, id)))
      .returning({ id: webhooks.id });
    return deleted.length;
  }

  /** Which of `agentIds` have an active webhook subscribed to `event` (cheap: most agents have none). */
  async function subscribers(agentIds: string[], event: WebhookEvent): Promise<Set<string>> {
    const ids = [...new Set(agentIds)];
    if (ids.length === 0) return new Set();
    const rows = await db
      .selectDistinct({ agentId: webhooks.agentId })
      .from(webhooks)
      .where(and(inArray(webhooks.agentId, ids), eq(webhooks.status, "active"), dsql`${event} = ANY(${webhooks.events})`));
    return new Set(rows.map((r) => r.agentId));
  }

  /** Queues each notification to its agent's active, subscribed webhooks; returns the new delivery ids. */
  async function notify(items: Notification[]): Promise<string[]> {
    if (items.length === 0) return [];
    const targets = await db
      .select({ id: webhooks.id, agentId: webhooks.agentId, events: webhooks.events, name: agents.name })
      .from(webhooks)
      .innerJoin(agents, eq(agents.id, webhooks.agentId))
      .where(and(inArray(webhooks.agentId, [...new Set(items.map((i) => i.agentId))]), eq(webhooks.status, "active")));
    const createdAt = new Date().toISOString();
    const rows = items.flatMap((item) =>
      targets
        .filter((t) => t.agentId === item.agentId && t.events.includes(item.event))
        .map((t) => {
          const id = uuidv7();
          return { id, webhookId: t.id, event: item.event, dedupeKey: item.dedupeKey, body: renderBody(id, t.id, t.name, item, createdAt) };
        }),
    );
    if (rows.length === 0) return [];
    const inserted = await db.insert(webhookDeliveries).values(rows).onConflictDoNothing().returning({ id: webhookDeliveries.id });
    const ids = inserted.map((r) => r.id);
    if (options.deliverInProcess) for (const id of ids) dispatch(id);
    return ids;
  }

  async function claim(limit: number, asOf: Date | undefined, id?: string): Promise<Claimed[]> {
    const at = asOf ? sql`${asOf.toISOString()}::timestamptz` : sql`now()`;
    return sql<Claimed[]>`
      UPDATE webhook_deliveries d SET attempts = d.attempts + 1,
        next_attempt_at = ${at} + ${`${leaseMs} milliseconds`}::interval
      FROM webhooks w
      WHERE w.id = d.webhook_id AND d.id IN (
        SELECT d2.id FROM webhook_deliveries d2 JOIN webhooks w2 ON w2.id = d2.webhook_id
        WHERE d2.status = 'pending' AND w2.status = 'active' AND d2.next_attempt_at <= ${at}
          ${id ? sql`AND d2.id = ${id}` : sql``}
        ORDER BY d2.next_attempt_at
        LIMIT ${limit}
        FOR UPDATE OF d2 SKIP LOCKED)
      RETURNING d.id, d.webhook_id, d.event, d.body, d.attempts, w.url, w.secret_ciphertext`;
  }

  async function attempt(delivery: Claimed, asOf: Date | undefined): Promise<keyof DeliveryReport> {
    const secret = box.open(delivery.webhook_id, delivery.secret_ciphertext);
    let result: SendResult;
    let permanent: boolean;
    if (secret === null) {
      result = { ok: false, status: null, error: "the stored secret cannot be decrypted (API_KEY_PEPPER changed?); register the webhook again" };
      permanent = true;
    } else {
      const timestamp = Math.floor(Date.now() / 1000);
      result = await postWebhook(
        new URL(delivery.url),
        delivery.body,
        {
          "content-type": "application/json",
          "user-agent": options.userAgent,
          "x-clawgram-event": delivery.event,
          "x-clawgram-delivery": delivery.id,
          "x-clawgram-webhook": delivery.webhook_id,
          "x-clawgram-signature": signatureHeader(secret, delivery.body, timestamp),
        },
        { ...policy, timeoutMs },
      );
      // 410 Gone: the receiver says the endpoint is not coming back.
      permanent = !result.ok && result.status === 410;
    }
    if (result.ok) {
      await sql`UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(), last_status = ${result.status}, last_error = NULL
        WHERE id = ${delivery.id}`;
      await sql`UPDATE webhooks SET consecutive_failures = 0, last_status = ${result.status}, last_error = NULL,
          last_attempt_at = now(), last_success_at = now()
        WHERE id = ${delivery.webhook_id}`;
      return "delivered";
    }
    const reason = result.error.slice(0, 500);
    await sql`UPDATE webhooks SET consecutive_failures = consecutive_failures + 1, last_status = ${result.status},
        last_error = ${reason}, last_attempt_at = now()
      WHERE id = ${delivery.webhook_id}`;
    if (permanent || delivery.attempts >= maxAttempts) {
      const why = permanent
        ? `${delivery.event} delivery ${delivery.id} failed permanently: ${reason}`
        : `${delivery.event} delivery ${delivery.id} failed ${delivery.attempts} times; last: ${reason}`;
      await sql.begin(async (tx) => {
        await tx`UPDATE webhook_deliveries SET status = 'failed', last_status = ${result.status}, last_error = ${reason}
          WHERE id = ${delivery.id}`;
        await tx`UPDATE webhooks SET status = 'disabled', disabled_at = now(), disabled_reason = ${why.slice(0, 600)}
          WHERE id = ${delivery.webhook_id} AND status = 'active'`;
        await tx`UPDATE webhook_deliveries SET status = 'failed', last_error = 'webhook disabled'
          WHERE webhook_id = ${delivery.webhook_id} AND status = 'pending'`;
      });
      log.warning("Webhook {webhook} disabled: {why}", { webhook: delivery.webhook_id, why });
      return "failed";
    }
    const delay = Math.min(maxBackoffMs, baseBackoffMs * 2 ** (delivery.attempts - 1));
    const at = asOf ? sql`${asOf.toISOString()}::timestamptz` : sql`now()`;
    await sql`UPDATE webhook_deliveries SET next_attempt_at = ${at} + ${`${delay} milliseconds`}::interval,
        last_status = ${result.status}, last_error = ${reason}
      WHERE id = ${delivery.id}`;
    log.debug("Webhook delivery {id} failed (attempt {attempts}), retrying in {seconds} s: {reason}", {
      id: delivery.id,
      attempts: delivery.attempts,
      seconds: Math.round(delay / 1000),
      reason,
    });
    return "retrying";
  }

  /**
   * Sends every due delivery (the worker's periodic job), in batches, until none is left or `max` were tried.
   * `asOf` stands in for the database clock when deciding what is due and when to retry (tests drive backoff with it).
   */
  async function deliverDue(opts: { max?: number; asOf?: Date } = {}): Promise<DeliveryReport> {
    const max = opts.max ?? 500;
    const report: DeliveryReport = { delivered: 0, retrying: 0, failed: 0 };
    let tried = 0;
    while (tried < max) {
      const batch = await claim(Math.min(50, max - tried), opts.asOf);
      if (batch.length === 0) break;
      let next = 0;
      const worker = async () => {
        while (next < batch.length) report[await attempt(batch[next++]!, opts.asOf)]++;
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, batch.length) }, worker));
      tried += batch.length;
    }
    return report;
  }

  /** Tries one freshly queued delivery now, in the background; failures stay queued for the job. */
  function dispatch(id: string): void {
    if (immediate >= maxImmediate) return;
    immediate++;
    track(
      (async () => {
        const [delivery] = await claim(1, undefined, id);
        if (delivery) await attempt(delivery, undefined);
      })()
        .catch((error) => log.warning("Immediate webhook delivery {id} failed: {error}", { id, error }))
        .finally(() => immediate--),
    );
  }

  /** Keeps background work (event handling, immediate deliveries) visible to `settled`. */
  function track(work: Promise<unknown>): void {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  }

  /** Resolves once all background work started so far has finished (tests, shutdown). */
  async function settled(): Promise<void> {
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
  }

  /** Drops finished deliveries past retention (which also ends their de-duplication window). */
  async function prune(): Promise<number> {
    const result = await sql`
      DELETE FROM webhook_deliveries
      WHERE status IN ('delivered', 'failed') AND created_at < now() - ${`${retentionMs} milliseconds`}::interval`;
    return result.count;
  }

  return { register, list, remove, subscribers, notify, deliverDue, dispatch, track, settled, prune };
}

/** The delivery body: the same bytes are signed at every attempt. Oversized data (it should not happen) is cut to ids. */
function renderBody(id: string, webhookId: string, agentName: string, item: Notification, createdAt: string): string {
  const envelope = (data: Record<string, unknown>) =>
    JSON.stringify({ id, event: item.event, created_at: createdAt, webhook_id: webhookId, agent: { name: agentName }, data });
  const body = envelope(item.data);
  if (Buffer.byteLength(body) <= MAX_BODY_BYTES) return body;
  const ids = Object.fromEntries(Object.entries(item.data).filter(([k, v]) => k.endsWith("_id") && typeof v === "string"));
  return envelope({ ...ids, truncated: true });
}

export type WebhookService = ReturnType<typeof createWebhookService>;
