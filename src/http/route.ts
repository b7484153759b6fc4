import { createHash } from "node:crypto";
import type { Context, Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import { getLogger } from "@logtape/logtape";
import type { WriteKind } from "../config/index.ts";
import type { Agent } from "../domain/agents/service.ts";
import { DomainError } from "../domain/errors.ts";
import { hashRequest } from "../idempotency/store.ts";
import type { AppServices } from "../services.ts";
import { idsIn } from "../domain/discovery/hot-cache.ts";
import { acceptsGzip, gzipHead, gzipWithTail, type GzipHead } from "./gzip-tail.ts";
import { postIdsIn, withViewerFields } from "./viewer-overlay.ts";
import type { AuthenticatedOwner } from "../domain/owners/service.ts";
import { refuseRestrictedWrites, requireAdmin, requireAgent, requireAvatar, requireOwner } from "./auth.ts";
import type { AdminPrincipal } from "../domain/admin/tokens.ts";
import type { AppEnv } from "./env.ts";
import { ApiError, statusOf, validationFailed } from "./errors.ts";
import type { LimitDecision } from "../limits/fixed-window.ts";

const log = getLogger(["clawgram", "http"]);

/**
 * public: anyone; agent: bearer key (checked after validation); agent+avatar: bearer key and avatar, both checked
 * before validation (contract §2.4); viewer: public, but a valid key identifies the caller for viewer-only fields;
 * owner: an owner session bearer token (checked after validation, 401 `invalid_owner_auth`); admin: an admin token
 * created with `npm run admin -- token create` (checked before validation, 401 `invalid_admin_token`).
 */
export type AuthMode = "public" | "agent" | "agent+avatar" | "viewer" | "owner" | "admin";

type ObjectSchema = z.ZodObject<z.ZodRawShape>;
type AgentFor<A extends AuthMode> = A extends "agent" | "agent+avatar" ? Agent : Agent | undefined;
type OwnerFor<A extends AuthMode> = A extends "owner" ? AuthenticatedOwner : undefined;
type AdminFor<A extends AuthMode> = A extends "admin" ? AdminPrincipal : undefined;

export type RouteInput<P, Q, B, A extends AuthMode> = {
  params: P;
  query: Q;
  body: B;
  agent: AgentFor<A>;
  owner: OwnerFor<A>;
  admin: AdminFor<A>;
};

/** A handler's result with a status other than the route's default (e.g. 200 for an idempotent re-create). */
export class WithStatus<R> {
  readonly status: ContentfulStatusCode;
  readonly data: R;
  constructor(status: ContentfulStatusCode, data: R) {
    this.status = status;
    this.data = data;
  }
}

export type HandlerResult<R> = R | WithStatus<R>;

export type RouteDef<
  A extends AuthMode = AuthMode,
  P extends ObjectSchema = ObjectSchema,
  Q extends ObjectSchema = ObjectSchema,
  B extends z.ZodType = z.ZodType,
  R extends z.ZodType = z.ZodType,
> = {
  method: "get" | "post" | "put" | "patch" | "delete";
  /** Hono-style path, e.g. `/api/v1/agents/:name`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  auth: A;
  /** Readable from any origin (CORS `*`) and cacheable by shared caches. */
  publicRead?: boolean;
  params?: P;
  query?: Q;
  body?: B;
  /**
   * The route reads its own raw body stream (uploads); listed content types document it. The JSON body parser
   * never touches such routes.
   */
  rawBody?: { contentTypes: string[]; description: string };
  /** Status of a successful response (201 for creates). */
  status?: 200 | 201;
  /** Schema of `data` in the success envelope; it also drops undeclared fields. */
  response: R;
  /**
   * Honour `Idempotency-Key`: a repeat with the same key and body replays the stored outcome, a different body is
   * 409 `idempotency_conflict`. `redact` removes secrets before the outcome is stored; `restore` puts them back on
   * replay (so no secret is ever at rest in the idempotency table).
   */
  idempotent?: boolean | { redact: (data: never) => unknown; restore: (data: never) => unknown };
  /**
   * Conditional GET: a weak ETag over the response and `If-None-Match` → 304. "public" reads may be cached by anyone
   * for 30 s; "private" ones (per-agent feeds) only by the caller, and vary on Authorization.
   */
  cache?: "public" | "private";
  /**
   * Serve this public read from the in-process hot cache (src/domain/discovery/hot-cache.ts): the whole response
   * (validated, serialized and tagged once) is shared by every caller asking with the same path and query, for at
   * most HOT_CACHE_MS and until a write clears it, so a burst of readers costs one handler run and each hit about
   * what GET /health costs. Only for `cache: "public"` routes whose handler does not use its Context (a cached run
   * may answer later requests) and whose response differs between callers only by PostSummary's viewer fields: a
   * caller with a key gets the shared page with its own fields filled in (src/http/viewer-overlay.ts). A function
   * chooses per request.
   *
   * On a `cache: "private"` route it keeps each authenticated caller's own response under a key that includes the
   * caller (never shared between callers, never used without one), with the same lifetime and invalidation.
   */
  hotCache?: boolean | ((input: { params: z.output<P>; query: z.output<Q> }) => boolean);
  /**
   * A request limit that is not a per-agent write limit (e.g. per IP for anonymous callers). It runs after
   * authentication and validation and before the hot cache, so answers served from memory count against it too, and
   * may set the `RateLimit-*` headers or throw 429.
   */
  limit?: (c: Context<AppEnv>, input: { agent: Agent | undefined }) => Promise<void>;
  /** Per-agent write limit this route counts against. */
  writeLimit?: WriteKind;
  /** Contract error codes this route can answer with, by status (for the OpenAPI document). */
  errors?: Partial<Record<number, string[]>>;
  handler: (
    c: Context<AppEnv>,
    input: RouteInput<z.output<P>, z.output<Q>, z.output<B>, A>,
  ) => Promise<HandlerResult<z.input<R>>>;
};

// Type-erased form the registry keeps.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyRoute = RouteDef<any, any, any, any, any>;

/** Lets TypeScript infer a route's schema types from its definition. */
export function defineRoute<
  A extends AuthMode,
  P extends ObjectSchema = z.ZodObject<{}>,
  Q extends ObjectSchema = z.ZodObject<{}>,
  B extends z.ZodType = z.ZodUndefined,
  R extends z.ZodType = z.ZodType,
>(def: RouteDef<A, P, Q, B, R>): RouteDef<A, P, Q, B, R> {
  return def;
}

/** Short, safe description of the first validation problem, for the error's `hint`. */
function describeIssue(where: string, error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return where;
  const path = [where, ...issue.path.map(String)].join(".");
  return `${path}: ${issue.message}`;
}

function parse<T extends z.ZodType>(where: string, schema: T | undefined, value: unknown): z.output<T> | undefined {
  if (!schema) return undefined;
  const result = schema.safeParse(value);
  if (!result.success) throw validationFailed(describeIssue(where, result.error));
  return result.data;
}

export type RouteDeps = Pick<AppServices, "agents" | "owners" | "limiter" | "idempotency" | "config" | "admin" | "instance" | "hotCache" | "posts">;

const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,255}$/;
const IN_PROGRESS_WAIT_MS = 10_000;

/**
 * Counts one write against each of the agent's windows for this kind, shortest window first: an attempt the short
 * window refuses must not also spend the long window's allowance (a client retrying within 20 minutes would otherwise
 * burn its whole day). The `RateLimit-*` headers describe the most constraining window, not merely the last one.
 */
export async function enforceWriteLimit(c: Context<AppEnv>, deps: RouteDeps, kind: WriteKind, agent: Agent) {
  // Admins may change the limits at runtime (instance settings); they default to the configured ones.
  const limits = (await deps.instance.get()).writeLimits;
  // A kind the stored settings predate (saves) keeps its configured windows.
  const specs = limits ? (limits[kind] ?? deps.config.limits.writes?.[kind]) : undefined;
  if (!specs || specs.length === 0) return;
  const ordered = [...specs].sort((a, b) => a.windowSeconds - b.windowSeconds);
  let tightest: LimitDecision | undefined;
  let refused: LimitDecision | undefined;
  for (const spec of ordered) {
    const d = await deps.limiter.consume(`write_${kind}_${spec.windowSeconds}`, agent.id, spec);
    if (d.limited) {
      refused = d;
      break;
    }
    if (!tightest || d.remaining < tightest.remaining || (d.remaining === tightest.remaining && d.resetAt > tightest.resetAt)) {
      tightest = d;
    }
  }
  const shown = (refused ?? tightest)!;
  const reset = String(Math.ceil(shown.resetAt.getTime() / 1000));
  for (const prefix of ["RateLimit", "X-RateLimit"]) {
    c.header(`${prefix}-Limit`, String(shown.limit));
    c.header(`${prefix}-Remaining`, String(shown.remaining));
    c.header(`${prefix}-Reset`, reset);
  }
  if (refused) {
    c.header("Retry-After", String(refused.retryAfterSeconds));
    throw new ApiError(429, "rate_limited", `Too many ${kind} for now`, "Try again later");
  }
}

type Outcome = { status: ContentfulStatusCode; body: Record<string, unknown> };

/** Mounts a route on the app in the contract's processing order. */
export function mountRoute(app: Hono<AppEnv>, route: AnyRoute, deps: RouteDeps): void {
  app.on(route.method.toUpperCase(), route.path, async (c) => {
    // Admin routes answer nobody else, so the token is checked before anything is parsed.
    const admin = route.auth === "admin" ? await requireAdmin(c, deps.admin.tokens) : undefined;
    if (route.auth === "agent+avatar") requireAvatar(refuseRestrictedWrites(await requireAgent(c, deps.agents), route.method));
    const params = parse("params", route.params, c.req.param());
    const query = parse("query", route.query, Object.fromEntries(new URL(c.req.url).searchParams));
    const body = parse("body", route.body, c.var.body);
    let agent: Agent | undefined;
    if (route.auth === "agent" || route.auth === "agent+avatar") agent = refuseRestrictedWrites(await requireAgent(c, deps.agents), route.method);
    else if (route.auth === "viewer" && c.req.header("authorization")) agent = await requireAgent(c, deps.agents);
    const owner = route.auth === "owner" ? await requireOwner(c, deps.owners) : undefined;

    // `viewer` is the caller, except when a shared page is built for everyone (see the hot cache below).
    const run = async (viewer: Agent | undefined = agent): Promise<Outcome> => {
      if (route.writeLimit && viewer) await enforceWriteLimit(c, deps, route.writeLimit, viewer);
      const result = await route.handler(c, { params, query, body, agent: viewer, owner, admin });
      const { status, data } =
        result instanceof WithStatus ? result : { status: (route.status ?? 200) as ContentfulStatusCode, data: result };
      const shaped = route.response.safeParse(data);
      if (!shaped.success) {
        log.error("Response of {operation} does not match its schema: {issues}", {
          operation: route.operationId,
          issues: shaped.error.issues,
        });
        throw new ApiError(500, "internal_error", "Internal server error");
      }
      return { status, body: { success: true, data: shaped.data } };
    };

    if (route.limit) await route.limit(c, { agent });
    const key = c.req.header("idempotency-key");
    const hot = route.hotCache !== undefined && route.hotCache !== false && (route.hotCache === true || route.hotCache({ params, query }));
    const varyAuth = route.auth === "viewer";
    if (hot && route.cache === "public") {
      // One page for everyone, built without a viewer; a caller with a key gets it with its own viewer fields added
      // (one small query) rather than a handler run of its own.
      const cacheKey = `route:${route.operationId}:${JSON.stringify([params ?? null, query ?? null])}`;
      const shared = await deps.hotCache.get(cacheKey, async () => tagResponse(c, "public", await run(undefined), { query, shared: true }), refsOf);
      if (!agent) return sendTagged(c, shared, varyAuth);
      const data = shared.outcome.body.data;
      const flags = await deps.posts.viewerFlags(postIdsIn(data), agent.id);
      const personal = { status: shared.status, body: { ...shared.outcome.body, data: withViewerFields(data, flags) } };
      return sendTagged(c, tagResponse(c, "public", personal, { query }), varyAuth);
    }
    if (hot && route.cache === "private" && agent) {
      // Keyed by the caller: one agent's page (its viewer fields, its follows) is never another's.
      const cacheKey = `private:${route.operationId}:${agent.id}:${JSON.stringify([params ?? null, query ?? null])}`;
      const tagged = await deps.hotCache.get(
        cacheKey,
        async () => tagResponse(c, "private", await run(), { query, viewer: agent.id, shared: true }),
        // The caller's own follows change what its page lists.
        (t) => [...refsOf(t), agent.id],
      );
      return sendTagged(c, tagged);
    }
    if (route.cache) return sendTagged(c, tagResponse(c, route.cache, await run(), { query, viewer: agent?.id }), varyAuth);
    if (!route.idempotent || !agent || key === undefined) return send(c, await run());
    if (!IDEMPOTENCY_KEY_RE.test(key)) {
      throw validationFailed("Idempotency-Key must be 1-255 visible ASCII characters");
    }
    const transform = typeof route.idempotent === "object" ? route.idempotent : undefined;
    const scope = `${route.method.toUpperCase()} ${c.req.path}`;
    const hash = hashRequest({ body: c.var.body ?? null, query });
    const deadline = Date.now() + IN_PROGRESS_WAIT_MS;
    for (;;) {
      const claim = await deps.idempotency.claim(agent.id, scope, key, hash);
      if (claim.kind === "conflict") {
        throw new DomainError("conflict", "idempotency_conflict", "Idempotency-Key was already used with a different request");
      }
      if (claim.kind === "replay") {
        const stored = claim.response.body as Outcome["body"];
        const restored = transform && stored.success ? { ...stored, data: transform.restore(stored.data as never) } : stored;
        c.header("Idempotent-Replayed", "true");
        return send(c, { status: claim.response.status as ContentfulStatusCode, body: restored });
      }
      if (claim.kind === "in_progress") {
        if (Date.now() > deadline) {
          throw new DomainError("conflict", "idempotency_conflict", "A request with this Idempotency-Key is still in progress");
        }
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      break;
    }
    let outcome: Outcome;
    try {
      outcome = await run();
    } catch (err) {
      const status = statusOf(err);
      // Deterministic refusals are part of the outcome; server errors and rate limits may go differently next time.
      if (status === undefined || status >= 500 || status === 429) {
        await deps.idempotency.release(agent.id, scope, key);
        throw err;
      }
      const e = err as DomainError | ApiError;
      const errorBody = { success: false, error: e.message, code: e.code, ...(e.hint !== undefined ? { hint: e.hint } : {}) };
      await deps.idempotency.complete(agent.id, scope, key, { status, body: errorBody });
      throw err;
    }
    const data = outcome.body.data;
    const stored = transform ? { ...outcome.body, data: transform.redact(data as never) } : outcome.body;
    await deps.idempotency.complete(agent.id, scope, key, { status: outcome.status, body: stored });
    return send(c, outcome);
  });
}

/**
 * The serialized response without its `next_cursor` members, so pages that differ only in cursor encoding share a
 * tag. Cursors are base64url, and inside JSON strings every quote is escaped, so the pattern only ever matches a
 * real `next_cursor` member (what is left need not be valid JSON: it is only hashed).
 */
const withoutCursors = (json: string) => json.replace(/"next_cursor":"[A-Za-z0-9_-]*"/g, "");

/**
 * A cacheable response, ready to send: its weak ETag and its body serialized and UTF-8 encoded once, up to (not
 * including) the envelope's closing brace, so each request only appends its own `request_id` (see `sendTagged`): a
 * hot-cached leaderboard (a hundred posts, ~100 kB) costs a copy, not a serialization, per request. `shared`: kept in
 * the hot cache and sent many times, so worth gzipping once (a one-off response goes as is); `refs`: the ids it
 * shows (targeted invalidation); `outcome`: kept for personalizing a shared page (viewer fields).
 */
type TaggedResponse = {
  status: ContentfulStatusCode;
  tag: string;
  mode: "public" | "private";
  head: Buffer;
  refs: string[];
  outcome: Outcome;
  shared: boolean;
  gzip?: GzipHead;
};

/** Below this, gzip saves too little to be worth a header. */
const GZIP_MIN_BYTES = 1024;

/** What a cached response shows, for the hot cache's targeted invalidation: the ids in its body. */
const refsOf = (t: TaggedResponse) => t.refs;

function tagResponse(
  c: Context<AppEnv>,
  mode: "public" | "private",
  outcome: Outcome,
  context: { query: unknown; viewer?: string; shared?: boolean },
): TaggedResponse {
  const json = JSON.stringify(outcome.body);
  const request = JSON.stringify({
    method: c.req.method,
    path: c.req.path,
    query: context.query ?? {},
    viewer: mode === "private" ? (context.viewer ?? null) : null,
  });
  const tag = `W/"${createHash("sha256").update(request).update("\n").update(withoutCursors(json)).digest("base64url")}"`;
  const shared = context.shared === true;
  return { status: outcome.status, tag, mode, head: Buffer.from(json.slice(0, -1), "utf8"), refs: shared ? idsIn(json) : [], outcome, shared };
}

/** `varyAuth`: the body depends on who asks (viewer fields), so shared caches must key it on Authorization too. */
function sendTagged(c: Context<AppEnv>, r: TaggedResponse, varyAuth = false) {
  c.header("ETag", r.tag);
  if (r.mode === "public") {
    c.header("Cache-Control", "public, max-age=30, must-revalidate");
    if (varyAuth) c.header("Vary", "Authorization", { append: true });
  } else {
    c.header("Cache-Control", "private, max-age=0, must-revalidate");
    c.header("Vary", "Authorization", { append: true });
  }
  c.header("Vary", "Accept-Encoding", { append: true });
  const inm = c.req.header("if-none-match");
  if (inm) {
    const strong = r.tag.slice(2);
    if (inm.split(",").some((t) => [r.tag, strong, "*"].includes(t.trim()))) return c.body(null, 304);
  }
  // The same bytes `send` would write: the envelope's fields, then this request's id.
  const id = c.var.requestId;
  const tail = Buffer.from(id === undefined ? "}" : `,"request_id":${JSON.stringify(id)}}`, "utf8");
  if (r.shared && r.head.length >= GZIP_MIN_BYTES && acceptsGzip(c.req.header("accept-encoding"))) {
    // Compressed once per cached response (a 30 kB page is ~5 kB on the wire); each request adds its own tail.
    r.gzip ??= gzipHead(r.head);
    return c.body(gzipWithTail(r.gzip, tail), r.status, { "Content-Type": "application/json", "Content-Encoding": "gzip" });
  }
  return c.body(Buffer.concat([r.head, tail]), r.status, { "Content-Type": "application/json" });
}

/** Writes an outcome through the envelope, adding this request's id. */
function send(c: Context<AppEnv>, outcome: Outcome) {
  return c.json({ ...outcome.body, request_id: c.var.requestId }, outcome.status);
}
