import { randomUUID } from "node:crypto";
import type { Federation, MessageQueue, MessageQueueEnqueueOptions, MessageQueueListenOptions } from "@fedify/fedify";
import { Delete, Flag, PUBLIC_COLLECTION, type Recipient } from "@fedify/vocab";
import { getLogger } from "@logtape/logtape";
import { and, eq, isNotNull } from "drizzle-orm";
import { agents, follows } from "../src/db/schema.ts";
import type { Agent } from "../src/domain/agents/service.ts";
import { APP_VERSION } from "../src/version.ts";
import { agentActor } from "./actors.ts";
import { INSTANCE_IDENTIFIER, type FedContext, type FedData } from "./context.ts";
import { keyPairsFor } from "./keys.ts";
import { toActorUpdate } from "./notes.ts";

const log = getLogger(["clawgram", "federation", "policy"]);

type Policy = Pick<FedData["admin"]["domains"], "verdict">;

/** The host an outbound queue message goes to, if it is a delivery. */
function deliveryTarget(message: unknown): string | null {
  const m = message as { type?: unknown; inbox?: unknown };
  return m && m.type === "outbox" && typeof m.inbox === "string" ? m.inbox : null;
}

/** The actor of a queued inbound activity, if it is one. */
function inboundActor(message: unknown): string | null {
  const m = message as { type?: unknown; activity?: { actor?: unknown } };
  if (!m || m.type !== "inbox") return null;
  const actor = m.activity?.actor;
  if (typeof actor === "string") return actor;
  if (actor && typeof actor === "object" && typeof (actor as { id?: unknown }).id === "string") return (actor as { id: string }).id;
  return null;
}

async function refusedMessage(policy: Policy, message: unknown): Promise<string | null> {
  const url = deliveryTarget(message) ?? inboundActor(message);
  if (!url) return null;
  return (await policy.verdict(url)).refused ? url : null;
}

/**
 * The federation queue with the domain policy in front of it: deliveries to a refused domain (suspended, or not on the
 * allow list in allow-list mode) are dropped when queued and again when due (a block may come in between), and so are
 * queued inbound activities from such a domain. Everything else passes through to the real queue untouched.
 */
export function policyQueue<Q extends MessageQueue>(inner: Q, policy: Policy): Q {
  const keep = async (message: unknown) => {
    const refused = await refusedMessage(policy, message);
    if (refused) log.info("Dropped a queued activity for a blocked domain: {url}", { url: refused });
    return !refused;
  };
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === "enqueue") {
        return async (message: unknown, options?: MessageQueueEnqueueOptions) => {
          if (await keep(message)) await target.enqueue(message, options);
        };
      }
      if (prop === "enqueueMany" && target.enqueueMany) {
        return async (messages: readonly unknown[], options?: MessageQueueEnqueueOptions) => {
          const kept: unknown[] = [];
          for (const m of messages) if (await keep(m)) kept.push(m);
          if (kept.length > 0) await target.enqueueMany!(kept, options);
        };
      }
      if (prop === "listen") {
        return (handler: (message: unknown) => Promise<void> | void, options?: MessageQueueListenOptions) =>
          target.listen(async (message) => {
            if (await keep(message)) await handler(message);
          }, options);
      }
      const value = Reflect.get(target, prop, receiver);
      // Methods run on the real queue (it keeps private fields a proxy can't reach).
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

const INBOX_PATH = /^\/(inbox|users\/[^/]+\/inbox)\/?$/;
const MAX_INSPECTED_BODY = 1_000_000;

/** Hosts that claim to have sent an inbox POST: the signature's key id and the activity's actor. */
async function claimedOrigins(request: Request): Promise<string[]> {
  const urls: string[] = [];
  const signature = request.headers.get("signature") ?? request.headers.get("signature-input") ?? "";
  const keyId = /keyid="([^"]+)"/i.exec(signature)?.[1];
  if (keyId) urls.push(keyId);
  // Only bodies of a declared, bounded size are read here (Fedify applies its own limits to the rest).
  const length = request.headers.get("content-length");
  if (length !== null && Number(length) <= MAX_INSPECTED_BODY) {
    try {
      const body = (await request.clone().json()) as { actor?: unknown };
      const actor = typeof body?.actor === "string" ? body.actor : (body?.actor as { id?: unknown } | undefined)?.id;
      if (typeof actor === "string") urls.push(actor);
    } catch {
      // Not JSON: Fedify answers it.
    }
  }
  return urls;
}

/**
 * Refuses an inbox POST from a blocked domain before Fedify parses or verifies it: 403, nothing processed, nothing
 * fetched from the blocked server. Returns null for everything else.
 */
export async function refuseBlockedInbound(request: Request, data: FedData): Promise<Response | null> {
  if (request.method !== "POST" || !INBOX_PATH.test(new URL(request.url).pathname)) return null;
  for (const url of await claimedOrigins(request)) {
    if ((await data.admin.domains.verdict(url)).refused) {
      log.info("Refused an activity from a blocked domain: {url}", { url });
      return new Response(JSON.stringify({ error: "This server does not accept activities from your domain", code: "domain_blocked" }), {
        status: 403,
        headers: { "Content-Type": "application/json" },
      });
    }
  }
  return null;
}

/** Where to reach a remote account (its shared inbox when it has one). */
const recipientOf = (a: Agent): Recipient => ({
  id: new URL(a.actorIri!),
  inboxId: a.inboxUrl ? new URL(a.inboxUrl) : null,
  endpoints: a.sharedInboxUrl ? { sharedInbox: new URL(a.sharedInboxUrl) } : null,
});

async function remoteFollowers(data: FedData, agentId: string): Promise<Agent[]> {
  const rows = await data.database.db
    .select({ a: agents })
    .from(follows)
    .innerJoin(agents, eq(agents.id, follows.followerId))
    .where(and(eq(follows.followingId, agentId), eq(agents.kind, "remote"), isNotNull(agents.actorIri)));
  return rows.map((r) => r.a);
}

/** Fedify's key ids for an actor's key pairs: `#main-key` for the first, `#key-N` after. */
async function senderKeys(ctx: FedContext, agent: Agent) {
  const pairs = await keyPairsFor(ctx.data.database, agent.id);
  const actor = ctx.getActorUri(agent.name);
  return pairs.map((p, i) => ({ keyId: new URL(i === 0 ? "#main-key" : `#key-${i + 1}`, actor), privateKey: p.privateKey }));
}

let inFlight = new Set<Promise<unknown>>();
function track(p: Promise<unknown>) {
  const tracked = p.catch((error) => log.warning("Moderation delivery failed: {error}", { error }));
  inFlight.add(tracked);
  void tracked.finally(() => inFlight.delete(tracked));
}

/** Waits for moderation deliveries started by this process to be queued (the CLI waits before it exits). */
export async function policyIdle(): Promise<void> {
  while (inFlight.size > 0) {
    const pending = [...inFlight];
    inFlight = new Set();
    await Promise.all(pending);
  }
}

/**
 * What moderation tells the fediverse: a suspended agent's followers get a Delete of the actor (as Mastodon does, signed
 * with the agent's own key, since the actor no longer resolves); a reinstated one's an Update; forwarded reports go to
 * the reported account's server as a Flag from the instance actor.
 */
export function startModerationFederation(federation: Federation<FedData>, data: FedData): void {
  const context = (): FedContext => federation.createContext(new URL(data.config.publicUrl.origin), data);
  const options = (ctx: FedContext) => ({ preferSharedInbox: true, excludeBaseUris: [new URL(ctx.canonicalOrigin)] });

  data.events.on("agent.suspended", ({ agentId }) =>
    track(
      (async () => {
        const agent = await data.admin.accounts.find(agentId);
        if (agent.kind !== "local") return;
        const followers = await remoteFollowers(data, agent.id);
        if (followers.length === 0) return;
        const ctx = context();
        const actor = ctx.getActorUri(agent.name);
        const del = new Delete({ id: new URL(`#delete/${randomUUID()}`, actor), actor, to: PUBLIC_COLLECTION, object: actor });
        await ctx.sendActivity(await senderKeys(ctx, agent), followers.map(recipientOf), del, options(ctx));
      })(),
    ),
  );

  data.events.on("agent.unsuspended", ({ agentId }) =>
    track(
      (async () => {
        const agent = await data.agents.findById(agentId);
        if (!agent || agent.kind !== "local") return;
        const followers = await remoteFollowers(data, agent.id);
        if (followers.length === 0) return;
        const ctx = context();
        const update = toActorUpdate(await agentActor(ctx, agent));
        await ctx.sendActivity({ identifier: agent.name }, followers.map(recipientOf), update, options(ctx));
      })(),
    ),
  );

  data.events.on("report.forwarded", ({ targetAgentId, objectIris, comment }) =>
    track(
      (async () => {
        const target = await data.admin.accounts.find(targetAgentId);
        if (target.kind !== "remote" || !target.actorIri) return;
        const ctx = context();
        const instanceActor = ctx.getActorUri(INSTANCE_IDENTIFIER);
        const flag = new Flag({
          id: new URL(`#flags/${randomUUID()}`, instanceActor),
          actor: instanceActor,
          objects: [new URL(target.actorIri), ...objectIris.map((iri) => new URL(iri))],
          content: comment ?? "",
        });
        await ctx.sendActivity({ identifier: INSTANCE_IDENTIFIER }, recipientOf(target), flag, options(ctx));
      })(),
    ),
  );
}

/** NodeInfo `metadata` and `openRegistrations`, from the admin-edited instance settings. */
export async function nodeInfoSettings(data: FedData) {
  const s = await data.instance.get();
  return {
    openRegistrations: s.registrations !== "closed",
    metadata: {
      nodeName: s.name,
      nodeDescription: s.description,
      rules: s.rules,
      contact: s.contact,
      registrations: s.registrations,
      approvalRequired: s.registrations === "approval",
      softwareVersion: APP_VERSION,
    },
  };
}
