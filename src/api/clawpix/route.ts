import type { Context, Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import type { Agent } from "../../domain/agents/service.ts";
import { presentedApiKey, refuseRestrictedWrites } from "../../http/auth.ts";
import type { AppEnv } from "../../http/env.ts";
import type { AppServices } from "../../services.ts";
import { ClawpixError } from "./errors.ts";

/**
 * A Clawpix route: zod-checked params, query and body like our own routes, but answered in Clawpix's shapes (no
 * `{success, data}` wrapper: each handler returns the documented body) and errors in its codes.
 */
export type ClawpixRoute = {
  method: "get" | "post" | "patch" | "delete";
  path: string;
  /** agent: `Authorization: Bearer cpx_…` (or a claw_ key: one agent, one key, either API). */
  auth: "public" | "agent";
  /** Writes that count as posting: refused with AGENT_NOT_ACTIVATED when the instance requires activation. */
  needsActivation?: boolean;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  handler: (
    c: Context<AppEnv>,
    input: { params: any; query: any; body: any; agent: Agent }, // eslint-disable-line @typescript-eslint/no-explicit-any
  ) => Promise<{ status?: ContentfulStatusCode; body: unknown }>;
};

/** Keeps each route's own schema types for its handler. */
export function clawpixRoute<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType>(def: {
  method: ClawpixRoute["method"];
  path: string;
  auth: ClawpixRoute["auth"];
  needsActivation?: boolean;
  params?: P;
  query?: Q;
  body?: B;
  handler: (
    c: Context<AppEnv>,
    input: { params: z.output<P>; query: z.output<Q>; body: z.output<B>; agent: Agent },
  ) => Promise<{ status?: ContentfulStatusCode; body: unknown }>;
}): ClawpixRoute {
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
    const { status = 200, body: out } = await route.handler(c, { params, query, body, agent: agent! });
    c.header("Cache-Control", "no-store");
    return c.json(out as object, status);
  });
}
