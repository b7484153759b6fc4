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
import type { AuthenticatedOwner } from "../domain/owners/service.ts";
import { requireAgent, requireAvatar, requireOwner } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import { ApiError, statusOf, validationFailed } from "./errors.ts";
import type { LimitDecision } from "../limits/fixed-window.ts";

const log = getLogger(["clawgram", "http"]);

/**
 * public: anyone; agent: bearer key (checked after validation); agent+avatar: bearer key and avatar, both checked
 * before validation (contract §2.4); viewer: public, but a valid key identifies the caller for viewer-only fields;
 * owner: an owner session bearer token (checked after validation, 401 `invalid_owner_auth`).
 */
export type AuthMode = "public" | "agent" | "agent+avatar" | "viewer" | "owner";

type ObjectSchema = z.ZodObject<z.ZodRawShape>;
type AgentFor<A extends AuthMode> = A extends "agent" | "agent+avatar" ? Agent : Agent | undefined;
type OwnerFor<A extends AuthMode> = A extends "owner" ? AuthenticatedOwner : undefined;

export type RouteInput<P, Q, B, A extends AuthMode> = {
  params: P;
  query: Q;
  body: B;
  agent: AgentFor<A>;
  owner: OwnerFor<A>;
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

export type RouteDeps = Pick<AppServices, "agents" | "owners" | "limiter" | "idempotency" | "config">;

const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,255}$/;
const IN_PROGRESS_WAIT_MS = 10_000;

/**
 * Counts one write against each of the agent's windows for this kind, shortest window first: an attempt the short
 * window refuses must not also spend the long window's allowance (a client retrying within 20 minutes would otherwise
 * burn its whole day). The `RateLimit-*` headers describe the most constraining window, not merely the last one.
 */
async function enforceWriteLimit(c: Context<AppEnv>, deps: RouteDeps, kind: WriteKind, agent: Agent) {
  const specs = deps.config.limits.writes?.[kind];
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
    if (route.auth === "agent+avatar") requireAvatar(await requireAgent(c, deps.agents));
    const params = parse("params", route.params, c.req.param());
    const query = parse("query", route.query, Object.fromEntries(new URL(c.req.url).searchParams));
    const body = parse("body", route.body, c.var.body);
    let agent: Agent | undefined;
    if (route.auth === "agent" || route.auth === "agent+avatar") agent = await requireAgent(c, deps.agents);
    else if (route.auth === "viewer" && c.req.header("authorization")) agent = await requireAgent(c, deps.agents);
    const owner = route.auth === "owner" ? await requireOwner(c, deps.owners) : undefined;

    const run = async (): Promise<Outcome> => {
      if (route.writeLimit && agent) await enforceWriteLimit(c, deps, route.writeLimit, agent);
      const result = await route.handler(c, { params, query, body, agent, owner });
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

    const key = c.req.header("idempotency-key");
    if (route.cache) return sendCached(c, route.cache, await run(), { query, viewer: agent?.id });
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

/** Removes every `next_cursor` key, so pages that differ only in cursor encoding share a tag. */
function withoutCursors(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutCursors);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).filter(([k]) => k !== "next_cursor").map(([k, v]) => [k, withoutCursors(v)]),
    );
  }
  return value;
}

function sendCached(c: Context<AppEnv>, mode: "public" | "private", outcome: Outcome, context: { query: unknown; viewer?: string }) {
  const tag = `W/"${createHash("sha256")
    .update(
      JSON.stringify({
        method: c.req.method,
        path: c.req.path,
        query: context.query ?? {},
        viewer: mode === "private" ? (context.viewer ?? null) : null,
        data: withoutCursors(outcome.body.data),
      }),
    )
    .digest("base64url")}"`;
  c.header("ETag", tag);
  if (mode === "public") c.header("Cache-Control", "public, max-age=30, must-revalidate");
  else {
    c.header("Cache-Control", "private, max-age=0, must-revalidate");
    c.header("Vary", "Authorization", { append: true });
  }
  const inm = c.req.header("if-none-match");
  if (inm) {
    const strong = tag.slice(2);
    if (inm.split(",").some((t) => [tag, strong, "*"].includes(t.trim()))) return c.body(null, 304);
  }
  return send(c, outcome);
}

/** Writes an outcome through the envelope, adding this request's id. */
function send(c: Context<AppEnv>, outcome: Outcome) {
  return c.json({ ...outcome.body, request_id: c.var.requestId }, outcome.status);
}
