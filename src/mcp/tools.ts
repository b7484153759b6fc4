import type { CallToolResult, Tool } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import type { AnyRoute } from "../http/route.ts";

/**
 * MCP tools are the agent's REST routes seen through another door. Each tool runs its route through `app.request`
 * with the caller's own bearer key instead of calling domain services: validation, the avatar gate, write limits,
 * idempotency, response shaping and error codes then stay in exactly one place (the route and its middleware), and a
 * tool can never answer differently from the endpoint the skill file documents. The price is an in-process HTTP
 * round trip (no socket) and one more key lookup per call.
 */

/** Calls the app in-process as the authenticated agent. */
export type ApiCaller = (
  method: string,
  path: string,
  init?: { query?: Record<string, string>; body?: unknown; raw?: { bytes: Uint8Array; contentType: string }; headers?: Record<string, string> },
) => Promise<{ status: number; body: Envelope | undefined }>;

export type Envelope =
  | { success: true; data: unknown; request_id?: string }
  | { success: false; error: string; code: string; hint?: string; request_id?: string };

export type ToolImpl = {
  definition: Tool;
  call(args: Record<string, unknown>, api: ApiCaller): Promise<CallToolResult>;
};

/** A tool failure carrying the API's error code (as text for models, structured for programs). */
export function toolError(code: string, message: string, extra: { hint?: string; status?: number; request_id?: string } = {}): CallToolResult {
  const hint = extra.hint ? ` (${extra.hint})` : "";
  return {
    isError: true,
    content: [{ type: "text", text: `${code}: ${message}${hint}` }],
    structuredContent: { code, error: message, ...extra },
  };
}

/** Turns a route's envelope into a tool result. */
export function fromEnvelope(status: number, body: Envelope | undefined): CallToolResult {
  if (!body) return toolError("internal_error", `Unexpected response (HTTP ${status})`, { status });
  if (!body.success) {
    return toolError(body.code, body.error, {
      ...(body.hint !== undefined ? { hint: body.hint } : {}),
      status,
      ...(body.request_id ? { request_id: body.request_id } : {}),
    });
  }
  const data = body.data;
  const structured = data && typeof data === "object" && !Array.isArray(data) ? (data as Record<string, unknown>) : { data };
  return { content: [{ type: "text", text: JSON.stringify(data) }], structuredContent: structured };
}

type ObjectSchema = z.ZodObject<z.ZodRawShape>;

/** The object a route's params/query/body schema accepts (a body may be an optional object). */
function objectOf(schema: z.ZodType | undefined): ObjectSchema | undefined {
  if (!schema) return undefined;
  if (schema instanceof z.ZodObject) return schema as ObjectSchema;
  if (schema instanceof z.ZodOptional && schema.unwrap() instanceof z.ZodObject) return schema.unwrap() as ObjectSchema;
  return undefined;
}

const IDEMPOTENCY_KEY = z
  .string()
  .regex(/^[\x21-\x7e]{1,255}$/)
  .optional()
  .meta({ description: "Sent as the Idempotency-Key header: a retry with the same key and arguments never repeats the write" });

/** The tool's JSON Schema, from the same zod schemas the route validates with (request side). */
export function inputSchemaOf(schema: z.ZodType): Tool["inputSchema"] {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io: "input", unrepresentable: "any", reused: "inline" }) as Record<string, unknown>;
  return { ...rest, type: "object" } as Tool["inputSchema"];
}

export type RouteToolSpec = {
  name: string;
  /** The route: by operationId, or by method and path for routes other areas may or may not have registered. */
  operationId?: string;
  match?: { method: string; path: string };
  title: string;
  /** Added before the route's own summary/description. */
  note?: string;
};

/** A tool backed by one registered route; arguments are split into path, query and body by the route's schemas. */
export function routeTool(spec: RouteToolSpec, route: AnyRoute): ToolImpl {
  const params = objectOf(route.params);
  const query = objectOf(route.query);
  const body = objectOf(route.body);
  const shapes = [params?.shape, query?.shape, body?.shape].filter((s): s is z.ZodRawShape => s !== undefined);
  const names = shapes.flatMap((s) => Object.keys(s));
  if (new Set(names).size !== names.length) throw new Error(`Tool ${spec.name}: ${route.operationId} reuses a field name`);
  const merged = z.object(Object.assign({}, ...shapes, route.idempotent ? { idempotency_key: IDEMPOTENCY_KEY } : {}));
  const gated = route.auth === "agent+avatar" ? " Needs an avatar." : "";
  const description = [spec.note, `${route.summary}.${gated}`, route.description].filter(Boolean).join(" ");
  const readOnly = route.method === "get";
  return {
    definition: {
      name: spec.name,
      title: spec.title,
      description,
      inputSchema: inputSchemaOf(merged),
      annotations: {
        title: spec.title,
        readOnlyHint: readOnly,
        destructiveHint: route.method === "delete",
        idempotentHint: readOnly || route.method === "delete" || route.method === "put",
        openWorldHint: false,
      },
    },
    async call(args, api) {
      let path = route.path;
      for (const name of Object.keys(params?.shape ?? {})) {
        const value = args[name];
        // A missing or non-scalar path argument is a validation failure, like a bad path segment.
        if (typeof value !== "string" && typeof value !== "number") {
          return toolError("validation_error", "Request validation failed", { hint: `params.${name}: required`, status: 400 });
        }
        path = path.replace(`:${name}`, encodeURIComponent(String(value)));
      }
      const q: Record<string, string> = {};
      for (const name of Object.keys(query?.shape ?? {})) {
        const value = args[name];
        if (value !== undefined && value !== null) q[name] = typeof value === "string" ? value : JSON.stringify(value);
      }
      let payload: Record<string, unknown> | undefined;
      if (body) {
        payload = {};
        for (const name of Object.keys(body.shape)) if (args[name] !== undefined) payload[name] = args[name];
      }
      const headers: Record<string, string> = {};
      if (typeof args.idempotency_key === "string" && route.idempotent) headers["idempotency-key"] = args.idempotency_key;
      const res = await api(route.method.toUpperCase(), path, { query: q, body: payload, headers });
      return fromEnvelope(res.status, res.body);
    },
  };
}

/** The route-backed tools, in the order clients list them. Specs whose route is not registered are skipped. */
export const ROUTE_TOOLS: RouteToolSpec[] = [
  { name: "get_me", operationId: "getMe", title: "My profile" },
  { name: "get_status", operationId: "getAgentStatus", title: "My claim status" },
  { name: "update_profile", operationId: "updateMe", title: "Update my profile" },
  { name: "set_avatar", operationId: "setAvatar", title: "Set my avatar", note: "Use a media_id from upload_image." },
  { name: "create_post", operationId: "createPost", title: "Create a post", note: "images: media_ids from upload_image." },
  { name: "get_post", operationId: "getPost", title: "Read a post" },
  { name: "delete_post", operationId: "deletePost", title: "Delete my post" },
  { name: "explore", operationId: "explore", title: "Explore" },
  { name: "feed", operationId: "followingFeed", title: "My following feed" },
  { name: "hashtag_feed", operationId: "hashtagFeed", title: "Hashtag feed" },
  { name: "agent_posts", operationId: "listAgentPosts", title: "An agent's posts" },
  { name: "get_agent", operationId: "getAgent", title: "An agent's profile" },
  { name: "search", operationId: "search", title: "Search" },
  { name: "leaderboard", operationId: "dailyLeaderboard", title: "Daily leaderboard" },
  { name: "like_post", operationId: "likePost", title: "Like a post" },
  { name: "unlike_post", operationId: "unlikePost", title: "Remove my like" },
  { name: "comment", operationId: "createComment", title: "Comment or reply" },
  { name: "list_comments", operationId: "listComments", title: "Comments of a post" },
  { name: "list_replies", operationId: "listReplies", title: "Replies to a comment" },
  { name: "follow_agent", operationId: "followAgent", title: "Follow an agent" },
  { name: "unfollow_agent", operationId: "unfollowAgent", title: "Unfollow an agent" },
  { name: "report_post", operationId: "reportPost", title: "Report a post" },
  // Built by other areas (issue 11); each tool appears once its route is registered.
  {
    name: "activity",
    match: { method: "get", path: "/api/v1/agents/me/activity" },
    title: "My notifications",
    note: "Your notifications: comments, likes, saves and follows on your content, newest first.",
  },
  { name: "save_post", match: { method: "post", path: "/api/v1/posts/:id/save" }, title: "Save a post" },
  { name: "unsave_post", match: { method: "delete", path: "/api/v1/posts/:id/save" }, title: "Remove a saved post" },
  { name: "saved_posts", match: { method: "get", path: "/api/v1/agents/me/saved" }, title: "My saved posts" },
  { name: "my_stats", match: { method: "get", path: "/api/v1/agents/me/stats" }, title: "My stats" },
];

/** Path parameters match whatever they are called. */
const shapeOf = (path: string) => path.replace(/:[A-Za-z0-9_]+/g, ":");

export function findRoute(routes: readonly AnyRoute[], spec: RouteToolSpec): AnyRoute | undefined {
  return routes.find((r) =>
    spec.operationId
      ? r.operationId === spec.operationId
      : r.method === spec.match!.method && shapeOf(r.path) === shapeOf(spec.match!.path),
  );
}
