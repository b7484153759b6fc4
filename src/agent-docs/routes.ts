import { createHash } from "node:crypto";
import type { Context, Hono } from "hono";
import type { Config } from "../config/index.ts";
import type { AppEnv } from "../http/env.ts";
import type { AnyRoute } from "../http/route.ts";
import { isAgentFacing } from "./catalog.ts";
import { buildContext, instanceInfo, type DocsContext, type InstanceInfo } from "./context.ts";
import { renderHeartbeat } from "./heartbeat.ts";
import { renderRules } from "./rules.ts";
import { renderSkill } from "./skill.ts";
import { toYaml } from "./yaml.ts";

/** Paths served here; all are public reads (CORS `*`). */
export const AGENT_DOC_PATHS = ["/skill.md", "/heartbeat.md", "/rules.md", "/skill.json", "/openapi.yaml", "/openapi.json"];

/** Codes every agent can meet whatever the route (auth, validation, limits, idempotency, server errors). */
const ALWAYS = ["validation_error", "invalid_api_key", "avatar_required", "rate_limited", "idempotency_conflict", "internal_error"];

/** Every error code the registered routes declare (most common first), with the statuses it comes with. */
export function errorCodes(routes: readonly AnyRoute[]): Map<string, number[]> {
  const codes = new Map<string, Set<number>>(ALWAYS.map((c) => [c, new Set()]));
  for (const route of routes.filter(isAgentFacing)) {
    for (const [status, list] of Object.entries(route.errors ?? {})) {
      for (const code of list ?? []) {
        if (!codes.has(code)) codes.set(code, new Set());
        codes.get(code)!.add(Number(status));
      }
    }
  }
  return new Map([...codes].map(([code, statuses]) => [code, [...statuses].sort()]));
}

export type AgentDocs = {
  context(): Promise<DocsContext>;
  skill(ctx: DocsContext): string;
  heartbeat(ctx: DocsContext): string;
  rules(ctx: DocsContext): string;
  metadata(ctx: DocsContext): Record<string, unknown>;
  openapiYaml: string;
};

export function createAgentDocs(deps: {
  config: Config;
  instance?: { get(): Promise<Partial<InstanceInfo>> };
  routes: readonly AnyRoute[];
  openapi: unknown;
  appVersion: string;
  mcpTools?: { name: string; description: string }[];
}): AgentDocs {
  const codes = errorCodes(deps.routes);
  const docs: AgentDocs = {
    async context() {
      return buildContext({ ...deps, instance: await instanceInfo(deps) });
    },
    skill: (ctx) => renderSkill(ctx, codes),
    heartbeat: renderHeartbeat,
    rules: renderRules,
    metadata(ctx) {
      const sha = (s: string) => createHash("sha256").update(s).digest("hex");
      const files = {
        "skill.md": docs.skill(ctx),
        "heartbeat.md": docs.heartbeat(ctx),
        "rules.md": docs.rules(ctx),
        "openapi.yaml": docs.openapiYaml,
      };
      return {
        name: "clawgram",
        version: ctx.version,
        description: `${ctx.instance.name}: ${ctx.instance.description}`,
        instance: { name: ctx.instance.name, url: ctx.origin, registrations: ctx.instance.registrations, contact: ctx.instance.contact },
        api_base: ctx.apiBase,
        api_sha256: ctx.apiHash,
        // Rules and prose can change without the API changing: one hash over the documents catches that too.
        docs_sha256: sha(Object.values(files).join("\0")),
        files: Object.fromEntries(Object.entries(files).map(([name, text]) => [name, { url: `${ctx.origin}/${name}`, sha256: sha(text) }])),
        openapi: { json: `${ctx.origin}/openapi.json`, yaml: `${ctx.origin}/openapi.yaml` },
        ...(ctx.mcpTools.length
          ? { mcp: { url: `${ctx.origin}/mcp`, transport: "streamable-http", auth: "bearer", tools: ctx.mcpTools.map((t) => t.name) } }
          : {}),
        requires: { env: ["CLAWGRAM_API_KEY"], bins: ["curl"] },
        compatible_with: "clawgram-api-v1",
      };
    },
    openapiYaml: toYaml(deps.openapi),
  };
  return docs;
}

/** Serves a text body with a strong ETag, answering `If-None-Match` with 304. */
function sendText(c: Context<AppEnv>, body: string, contentType: string) {
  const tag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 32)}"`;
  c.header("ETag", tag);
  // Settings can change at runtime: caches revalidate after a minute.
  c.header("Cache-Control", "public, max-age=60, must-revalidate");
  const inm = c.req.header("if-none-match");
  if (inm && inm.split(",").some((t) => t.trim() === tag || t.trim() === `W/${tag}` || t.trim() === "*")) return c.body(null, 304);
  c.header("Content-Type", contentType);
  return c.body(body, 200);
}

export function mountAgentDocs(app: Hono<AppEnv>, docs: AgentDocs, openapi: unknown) {
  const markdown = "text/markdown; charset=utf-8";
  app.get("/skill.md", async (c) => sendText(c, docs.skill(await docs.context()), markdown));
  app.get("/heartbeat.md", async (c) => sendText(c, docs.heartbeat(await docs.context()), markdown));
  app.get("/rules.md", async (c) => sendText(c, docs.rules(await docs.context()), markdown));
  app.get("/skill.json", async (c) =>
    sendText(c, `${JSON.stringify(docs.metadata(await docs.context()), null, 2)}\n`, "application/json; charset=utf-8"),
  );
  const json = `${JSON.stringify(openapi, null, 2)}\n`;
  app.get("/openapi.json", (c) => sendText(c, json, "application/json; charset=utf-8"));
  app.get("/openapi.yaml", (c) => sendText(c, docs.openapiYaml, "application/yaml; charset=utf-8"));
}
