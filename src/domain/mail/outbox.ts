import { getLogger } from "@logtape/logtape";
import type { PgDatabase } from "drizzle-orm/pg-core";
import type { PostgresJsQueryResultHKT } from "drizzle-orm/postgres-js";
import type { Database } from "../../db/client.ts";
import { uuidv7 } from "../../db/ids.ts";
import type * as schema from "../../db/schema.ts";
import { mailOutbox } from "../../db/schema.ts";
import { isPermanentFailure, type Mailer } from "./mailer.ts";

const log = getLogger(["clawgram", "mail"]);

/** The database or an open transaction: mail is queued in the same transaction as whatever it announces. */
export type Executor = PgDatabase<PostgresJsQueryResultHKT, typeof schema>;

export type OutgoingMail = { to: string; subject: string; text: string; html?: string };

export type DeliveryReport = { sent: number; retrying: number; failed: number };

type Claimed = { id: string; to: string; subject: string; text: string | null; html: string | null; attempts: number };

export type OutboxOptions = {
  database: Database;
  mailer: Mailer;
  /** Attempts before a message is given up (status `failed`). */
  maxAttempts?: number;
  /** First retry delay; doubles with each failed attempt up to `maxBackoffMs`. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** How long a claimed message is reserved for its sender before another process may try it again. */
  leaseMs?: number;
  /** Sent and failed rows are kept this long (for inspection), bodies already cleared. */
  retentionMs?: number;
};

/**
 * Outgoing mail, at least once. A message is inserted into `mail_outbox` in the caller's transaction, so it exists
 * exactly when what it announces does; delivery happens afterwards (right away via `dispatch`, and by the periodic
 * `deliverDue` job for retries), never inside a request's fate: a mail server outage leaves messages pending with
 * exponential backoff. Senders claim rows with `FOR UPDATE SKIP LOCKED` plus a lease, so two processes never send the
 * same message at once. Once sent (or given up), the body is cleared: it may hold a one-time token.
 */
export function createMailOutbox(options: OutboxOptions) {
  const { sql } = options.database;
  const mailer = options.mailer;
  const maxAttempts = options.maxAttempts ?? 10;
  const baseBackoffMs = options.baseBackoffMs ?? 30_000;
  const maxBackoffMs = options.maxBackoffMs ?? 60 * 60_000;
  const leaseMs = options.leaseMs ?? 2 * 60_000;
  const retentionMs = options.retentionMs ?? 30 * 86_400_000;
  const inFlight = new Set<Promise<unknown>>();

  /** Queues a message inside `tx`; returns its id for `dispatch` once `tx` has committed. */
  async function enqueue(tx: Executor, mail: OutgoingMail): Promise<string> {
    const id = uuidv7();
    await tx.insert(mailOutbox).values({ id, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html ?? null });
    return id;
  }

  async function claim(limit: number, id?: string): Promise<Claimed[]> {
    return sql<Claimed[]>`
      UPDATE mail_outbox SET attempts = attempts + 1,
        next_attempt_at = now() + ${`${leaseMs} milliseconds`}::interval
      WHERE id IN (
        SELECT id FROM mail_outbox
        WHERE status = 'pending' AND next_attempt_at <= now() ${id ? sql`AND id = ${id}` : sql``}
        ORDER BY next_attempt_at
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED)
      RETURNING id, "to", subject, text, html, attempts`;
  }

  async function attempt(message: Claimed): Promise<keyof DeliveryReport> {
    try {
      await mailer.send({ id: message.id, to: message.to, subject: message.subject, text: message.text ?? "", html: message.html ?? undefined });
    } catch (error) {
      const reason = describe(error);
      const permanent = isPermanentFailure(error);
      if (permanent || message.attempts >= maxAttempts) {
        await sql`
          UPDATE mail_outbox SET status = 'failed', text = NULL, html = NULL, last_error = ${reason}
          WHERE id = ${message.id}`;
        log.error("Mail {id} to {to} given up after {attempts} attempt(s): {reason}", {
          id: message.id,
          to: message.to,
          attempts: message.attempts,
          reason,
        });
        return "failed";
      }
      const delay = Math.min(maxBackoffMs, baseBackoffMs * 2 ** (message.attempts - 1));
      await sql`
        UPDATE mail_outbox SET next_attempt_at = now() + ${`${delay} milliseconds`}::interval, last_error = ${reason}
        WHERE id = ${message.id}`;
      log.warning("Mail {id} to {to} not delivered (attempt {attempts}), retrying in {seconds} s: {reason}", {
        id: message.id,
        to: message.to,
        attempts: message.attempts,
        seconds: Math.round(delay / 1000),
        reason,
      });
      return "retrying";
    }
    await sql`
      UPDATE mail_outbox SET status = 'sent', sent_at = now(), text = NULL, html = NULL, last_error = NULL
      WHERE id = ${message.id}`;
    return "sent";
  }

  /** Sends every message that is due (the periodic job), in batches, until none is left or `max` were tried. */
  async function deliverDue(max = 500): Promise<DeliveryReport> {
    const report: DeliveryReport = { sent: 0, retrying: 0, failed: 0 };
    let tried = 0;
    while (tried < max) {
      const batch = await claim(Math.min(50, max - tried));
      if (batch.length === 0) break;
      for (const message of batch) report[await attempt(message)]++;
      tried += batch.length;
    }
    return report;
  }

  /**
   * Tries one freshly committed message now, in the background: the caller never waits for the mail server and never
   * sees its failure (the message stays queued for the job).
   */
  function dispatch(id: string): void {
    const run = (async () => {
      const [message] = await claim(1, id);
      if (message) await attempt(message);
    })().catch((error) => log.warning("Immediate delivery of mail {id} failed: {error}", { id, error }));
    inFlight.add(run);
    void run.finally(() => inFlight.delete(run));
  }

  /** Resolves once every background delivery started so far has finished (tests, shutdown). */
  async function settled(): Promise<void> {
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
  }

  /** Drops sent and failed rows past retention. */
  async function prune(): Promise<number> {
    const result = await sql`
      DELETE FROM mail_outbox
      WHERE status IN ('sent', 'failed') AND created_at < now() - ${`${retentionMs} milliseconds`}::interval`;
    return result.count;
  }

  return { enqueue, dispatch, deliverDue, settled, prune, mailer };
}

function describe(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown } | null;
  const text = [typeof e?.code === "string" ? e.code : undefined, typeof e?.message === "string" ? e.message : String(error)]
    .filter(Boolean)
    .join(": ");
  return text.slice(0, 500);
}

export type MailOutbox = ReturnType<typeof createMailOutbox>;
