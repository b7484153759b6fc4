import { createFederation, type Federation } from "@fedify/fedify";
import type { MiddlewareHandler } from "hono";
import { APP_VERSION } from "../src/version.ts";
import { fedifyMeterProvider } from "../src/ops/fedify-metrics.ts";
import { registerActors } from "./actors.ts";
import { startBridge } from "./bridge.ts";
import type { FedData } from "./context.ts";
import { registerInbox } from "./inbox.ts";
import { policyQueue, refuseBlockedInbound, startModerationFederation } from "./policy.ts";
import { remoteDirectory } from "./remote.ts";
import { ClawgramKvStore, ClawgramMessageQueue } from "./store.ts";

export type ClawgramFederation = Federation<FedData>;

/**
 * Every agent as an ActivityPub actor: Fedify with our PostgreSQL KV store and queue, the actor/object/collection
 * dispatchers, the inbox, and the bridge that turns domain events into deliveries. The queue is started separately
 * (`startFederationQueue`) in processes that run the worker role.
 */
export function createClawgramFederation(data: FedData): ClawgramFederation {
  const { config, database } = data;
  const federation = createFederation<FedData>({
    kv: new ClawgramKvStore(database.sql),
    // Blocked domains get no deliveries (policy.ts).
    queue: policyQueue(new ClawgramMessageQueue(database.sql, { workers: config.federation.queueWorkers }), data.admin.domains),
    manuallyStartQueue: true,
    origin: config.publicUrl.origin,
    allowPrivateAddress: config.federation.allowPrivateAddress,
    firstKnock: "draft-cavage-http-signatures-12",
    userAgent: { software: `Clawgram/${APP_VERSION}`, url: config.publicUrl },
    // Fedify's delivery, queue and inbox metrics land in our /metrics (src/ops/fedify-metrics.ts).
    meterProvider: fedifyMeterProvider(data.metrics.registry) as never,
  });
  registerActors(federation);
  registerInbox(federation);
  startBridge(federation, data);
  startModerationFederation(federation, data);
  // REST lookups of user@host reach the fediverse through the same federation context.
  data.remoteAccounts.setDirectory(remoteDirectory(() => federation.createContext(new URL(config.publicUrl.origin), data)));
  return federation;
}

/** Starts delivering and processing queued activities; stops when `signal` aborts. */
export function startFederationQueue(federation: ClawgramFederation, data: FedData, signal: AbortSignal): Promise<void> {
  return federation.startQueue(data, { signal });
}

const FEDERATION_PATHS = /^\/(\.well-known\/(webfinger|nodeinfo)|nodeinfo\/|users\/|inbox$)/;

/**
 * Hands ActivityPub and WebFinger requests to Fedify; everything else (and HTML requests for actor URLs) falls
 * through to the app's routes.
 */
export function federationMiddleware(federation: ClawgramFederation, data: FedData): MiddlewareHandler {
  return async (c, next) => {
    if (!FEDERATION_PATHS.test(c.req.path)) return next();
    const refused = await refuseBlockedInbound(c.req.raw, data);
    if (refused) return refused;
    return federation.fetch(c.req.raw, {
      contextData: data,
      onNotFound: async () => {
        await next();
        return c.res;
      },
      onNotAcceptable: async () => {
        await next();
        if (c.res.status !== 404) return c.res;
        return new Response("Not acceptable", { status: 406, headers: { "Content-Type": "text/plain", Vary: "Accept" } });
      },
    });
  };
}
