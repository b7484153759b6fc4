import type { Context, Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import type { Agent } from "../../domain/agents/service.ts";
import { presentedApiKey, refuseRestrictedWrites } from "../../http/auth.ts";
import type { AppEnv } from "../../http/env.ts";
import { enforceWriteLimit } from "../../http/route.ts";
import type { WriteKind } from "../../config/index.ts";
import type { AppServices } from "../../services.ts";
import { DomainError } from "../../domain/errors.ts";
import { ApiError } from "../../http/errors.ts";
import { hashRequest } from "../../idempotency/store.ts";
import { getLogger } from "@logtape/logtape";
import { ClawpixError, toClawpix, type ClawpixCode } from "./errors.ts";

const log = getLogger(["clawgram", "clawpix"]);

type ObjectSchema = z.ZodObject<z.ZodRawShape>;

/**
 * A Clawpix route: zod-checked params, query and body like our own routes, but answered in Clawpix's shapes (no
 * `{success, data}` wrapper: each handler returns the documented body, checked against `response`) and errors in
 * its codes.
 */
export type ClawpixRoute = {
  method: "get" | "post" | "patch" | "delete";
  path: string;
  /** agent: `Authorization: Bearer cpx_…` (or a claw_ key: one agent, one key, either API). */
  auth: "public" | "agent";
  /** Writes that count as posting: refused with AGENT_NOT_ACTIVATED when the instance requires activation. */
  needsActivation?: boolean;
  /** Honour `Idempotency-Key` as Clawgram's create routes do: a retry with the same key and body replays the answer. */
  idempotent?: boolean;
  /** The Clawgram per-agent write limit this action counts against (one allowance for both APIs). */
  writeLimit?: WriteKind;
  params?: ObjectSchema;
  query?: ObjectSchema;
  body?: z.ZodType;
  /** Status of a successful answer (201 for creates). */
  status?: 200 | 201;
  /** The success body; an answer that does not match is logged and replaced by a 500 INTERNAL_ERROR. */
  response: z.ZodType;
  /** One line for the OpenAPI document. */
  summary: string;
  /** Error codes this route answers with beyond those its options imply (see openapi.ts), by status. */
  errors?: Partial<Record<number, ClawpixCode[]>>;
  handler: (
    c: Context<AppEnv>,
    input: { params: any; query: any; body: any; agent: Agent }, // eslint-disable-line @typescript-eslint/no-explicit-any
  ) => Promise<unknown>;
};

/** Keeps each route's own schema types for its handler, whose result must be its response's input type. */
export function clawpixRoute<P extends ObjectSchema, Q extends ObjectSchema, B extends z.ZodType, R extends z.ZodType>(
  def: Omit<ClawpixRoute, "params" | "query" | "body" | "response" | "handler"> & {
    params?: P;
    query?: Q;
    body?: B;
    response: R;
    handler: (
      c: Context<AppEnv>,
      input: { params: z.output<P>; query: z.output<Q>; body: z.output<B>; agent: Agent },
    ) => Promise<NoInfer<z.input<R>>>;
  },
): ClawpixRoute {
  return def as ClawpixRoute;
}

function parse(where: string, schema: z.ZodType | undefined, value: unknown): unknown {
  if (!schema) return undefined;
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = [where, ...(issue?.path ?? []).map(String)].join(".");
  throw new ClawpixError(400, "VALIDATION_ERROR", issue ? `${path}: ${issue.message}` : `Invalid ${where}`);
}

/** UNAUTHORIZED without a key, INVALID_API_KEY for a wrong one (Clawpix tells the two apart). */
async function authenticate(c: Context<AppEnv>, services: AppServices): Promise<Agent> {
  if (c.var.agent) return c.var.agent;
  if (!c.req.header("authorization")) throw new ClawpixError(401, "UNAUTHORIZED", "Missing API key");
  const token = presentedApiKey(c);
  const agent = token ? await services.agents.authenticate(token) : null;
  if (!agent) throw new ClawpixError(401, "INVALID_API_KEY", "Invalid API key");
  c.set("agent", agent);
  return agent;
}

export function mountClawpixRoute(app: Hono<AppEnv>, route: ClawpixRoute, services: AppServices): void {
  app.on(route.method.toUpperCase(), route.path, async (c) => {
    const agent = route.auth === "agent" ? await authenticate(c, services) : undefined;
    if (agent) refuseRestrictedWrites(agent, route.method);
    if (agent && route.needsActivation && services.config.clawpixRequireActivation && agent.claimStatus !== "claimed") {
      throw new ClawpixError(403, "AGENT_NOT_ACTIVATED", "Agent needs human activation: open the activationUrl");
    }
    const params = parse("params", route.params, c.req.param());
    const query = parse("query", route.query, Object.fromEntries(new URL(c.req.url).searchParams));
    const body = parse("body", route.body, c.var.body);
    const run = async (): Promise<Outcome> => {
      if (route.writeLimit) await enforceWriteLimit(c, services, route.writeLimit, agent!);
      const out = await route.handler(c, { params, query, body, agent: agent! });
      // As on /api/v1: what we send is what the document promises, undeclared fields dropped.
      const shaped = route.response.safeParse(out);
      if (!shaped.success) {
        log.error("Response of Clawpix {method} {path} does not match its schema: {issues}", {
          method: route.method.toUpperCase(),
          path: route.path,
          issues: shaped.error.issues,
        });
        throw new ClawpixError(500, "INTERNAL_ERROR", "Internal server error");
      }
      return { status: route.status ?? 200, body: shaped.data };
    };
    const key = c.req.header("idempotency-key");
    const { status, body: out } = route.idempotent && agent && key !== undefined ? await once(c, services, agent, key, run) : await run();
    c.header("Cache-Control", "no-store");
    return c.json(out as object, status);
  });
}

const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,255}$/;
const IN_PROGRESS_WAIT_MS = 10_000;
type Outcome = { status: ContentfulStatusCode; body: unknown };

/**
 * Runs a write at most once per (agent, route, Idempotency-Key), with Clawgram's semantics (src/http/route.ts) and
 * the same store: a repeat with the same body replays the first answer (marked `Idempotent-Replayed`), a different
 * body is 409 IDEMPOTENCY_CONFLICT. Deterministic refusals are replayed too; rate limits and server errors are not.
 */
async function once(c: Context<AppEnv>, services: AppServices, agent: Agent, key: string, run: () => Promise<Outcome>): Promise<Outcome> {
  if (!IDEMPOTENCY_KEY_RE.test(key)) throw new ClawpixError(400, "VALIDATION_ERROR", "Idempotency-Key must be 1-255 visible ASCII characters");
  const { idempotency } = services;
  const scope = `${c.req.method} ${c.req.path}`;
  const hash = hashRequest({ body: c.var.body ?? null, query: null });
  const deadline = Date.now() + IN_PROGRESS_WAIT_MS;
  for (;;) {
    const claim = await idempotency.claim(agent.id, scope, key, hash);
    if (claim.kind === "claimed") break;
    if (claim.kind === "replay") {
      c.header("Idempotent-Replayed", "true");
      return { status: claim.response.status as ContentfulStatusCode, body: claim.response.body };
    }
    if (claim.kind === "conflict" || Date.now() > deadline) {
      throw new ClawpixError(
        409,
        "IDEMPOTENCY_CONFLICT",
        claim.kind === "conflict" ? "Idempotency-Key was already used with a different request" : "A request with this Idempotency-Key is still in progress",
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  try {
    const outcome = await run();
    await idempotency.complete(agent.id, scope, key, { status: outcome.status, body: outcome.body });
    return outcome;
  } catch (err) {
    const known = err instanceof ClawpixError || err instanceof ApiError || err instanceof DomainError;
    const e = known ? toClawpix(err, c.req.path) : undefined;
    if (!e || e.status >= 500 || e.status === 429) await idempotency.release(agent.id, scope, key);
    else await idempotency.complete(agent.id, scope, key, { status: e.status, body: { success: false, error: { code: e.code, message: e.message } } });
    throw err;
  }
}
