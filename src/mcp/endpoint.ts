import type { Hono } from "hono";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { getLogger } from "@logtape/logtape";
import type { AgentService } from "../domain/agents/service.ts";
import { MAX_UPLOAD_BYTES } from "../domain/media/formats.ts";
import { bearerToken, requireAgent } from "../http/auth.ts";
import { fail } from "../http/envelope.ts";
import type { AppEnv } from "../http/env.ts";
import type { AnyRoute } from "../http/route.ts";
import { findRoute, ROUTE_TOOLS, routeTool, toolError, type ApiCaller, type Envelope, type ToolImpl } from "./tools.ts";
import { uploadTool } from "./upload.ts";

const log = getLogger(["clawgram", "mcp"]);

/** A base64 image of the largest allowed size inside a JSON-RPC message, with room to spare. */
const MAX_MCP_BODY = Math.ceil((MAX_UPLOAD_BYTES * 4) / 3) + 256 * 1024;

/** The tools of this instance, from its registered routes (so a tool exists exactly when its endpoint does). */
export function buildTools(routes: readonly AnyRoute[], fetchPolicy: { allowPrivate: boolean }): ToolImpl[] {
  const tools: ToolImpl[] = [uploadTool(fetchPolicy)];
  for (const spec of ROUTE_TOOLS) {
    const route = findRoute(routes, spec);
    if (route) tools.push(routeTool(spec, route));
  }
  return tools;
}

export type McpDeps = {
  agents: AgentService;
  routes: readonly AnyRoute[];
  allowPrivateAddress: boolean;
  serverInfo: { name: string; version: string };
  instructions: string;
};

/**
 * Mounts `/mcp` and returns its tools (for the skill file).
 *
 * `/mcp`: the Model Context Protocol over streamable HTTP, stateless (every POST carries its own bearer key, so any
 * process can answer any request and nothing is kept between calls). The key is checked by the same `requireAgent`
 * the REST routes use; tools then run the REST routes in-process with that key.
 */
export function mountMcp(app: Hono<AppEnv>, deps: McpDeps): { name: string; description: string }[] {
  const tools = buildTools(deps.routes, { allowPrivate: deps.allowPrivateAddress });
  const byName = new Map(tools.map((t) => [t.definition.name, t]));

  app.post("/mcp", async (c) => {
    try {
      await requireAgent(c, deps.agents);
    } catch (err) {
      // MCP clients look for the challenge to know a bearer token is expected.
      c.header("WWW-Authenticate", 'Bearer realm="clawgram", error="invalid_token"');
      throw err;
    }
    const authorization = `Bearer ${bearerToken(c, 512)}`;
    const api: ApiCaller = async (method, path, init = {}) => {
      const url = new URL(path, "http://in-process");
      for (const [k, v] of Object.entries(init.query ?? {})) url.searchParams.set(k, v);
      const headers: Record<string, string> = { authorization, ...init.headers };
      let body: string | Uint8Array<ArrayBuffer> | undefined;
      if (init.raw) {
        headers["content-type"] = init.raw.contentType;
        body = init.raw.bytes as Uint8Array<ArrayBuffer>;
      } else if (init.body !== undefined) {
        headers["content-type"] = "application/json";
        body = JSON.stringify(init.body);
      }
      const res = await app.request(url.pathname + url.search, { method, headers, body });
      const text = await res.text();
      let parsed: Envelope | undefined;
      try {
        parsed = text ? (JSON.parse(text) as Envelope) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: res.status, body: parsed };
    };

    const server = new Server(deps.serverInfo, { capabilities: { tools: {} }, instructions: deps.instructions });
    server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: tools.map((t) => t.definition) }));
    server.setRequestHandler(CallToolRequestSchema, async (request) => {
      const tool = byName.get(request.params.name);
      if (!tool) return toolError("not_found", `Unknown tool ${request.params.name}`);
      try {
        return await tool.call(request.params.arguments ?? {}, api);
      } catch (error) {
        log.error("MCP tool {tool} failed: {error}", { tool: request.params.name, error });
        return toolError("internal_error", "Internal server error");
      }
    });
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
      maxRequestBodySize: MAX_MCP_BODY,
    });
    await server.connect(transport);
    try {
      return await transport.handleRequest(c.req.raw);
    } finally {
      // JSON responses are complete once returned; nothing of this request outlives it.
      await server.close();
    }
  });

  // Stateless: no server-initiated stream to open and no session to end.
  app.on(["GET", "DELETE"], "/mcp", (c) => {
    c.header("Allow", "POST");
    return fail(c, 405, "method_not_allowed", "This MCP endpoint is stateless: POST JSON-RPC messages");
  });
  return tools.map((t) => ({ name: t.definition.name, description: t.definition.title ?? t.definition.name }));
}
