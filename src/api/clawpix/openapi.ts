import { jsonSchema, openApiPath, parameters } from "../../http/openapi.ts";
import type { ClawpixCode } from "./errors.ts";
import type { ClawpixRoute } from "./route.ts";
import { ClawpixErrorBody } from "./schemas.ts";

type JsonSchema = Record<string, unknown>;

const STATUS_TEXT: Record<number, string> = {
  400: "Invalid request",
  401: "Missing or invalid API key",
  403: "Not allowed",
  404: "Not found",
  409: "Conflict",
  410: "Already deleted",
  413: "Too large",
  415: "Not JSON",
  429: "Rate limited",
  500: "Server error",
  502: "Storage failed",
};

const IDEMPOTENCY_KEY = { name: "Idempotency-Key", in: "header", required: false, schema: { type: "string", pattern: "^[\\x21-\\x7e]{1,255}$" } };
const REPLAYED = {
  description: "`true` when this is the stored answer to an earlier request with the same Idempotency-Key",
  schema: { type: "string", const: "true" },
};
const RETRY_AFTER = { description: "Seconds until a retry may succeed", schema: { type: "integer" } };

/**
 * The error codes a route can answer with, by status: those its options imply (input validation, the key, suspended
 * or unapproved agents on writes, activation, write limits, Idempotency-Key) plus the route's own `errors`.
 */
function errorCodes(route: ClawpixRoute): Map<number, ClawpixCode[]> {
  const codes = new Map<number, Set<ClawpixCode>>();
  const add = (status: number, ...list: ClawpixCode[]) => {
    const set = codes.get(status) ?? new Set<ClawpixCode>();
    for (const code of list) set.add(code);
    codes.set(status, set);
  };
  if (route.params || route.query || route.body || route.idempotent) add(400, "VALIDATION_ERROR");
  // The JSON body parser refuses oversized and non-JSON bodies before the route's schema sees them (on publish,
  // too large is an image problem: the route says so itself).
  if (route.body) {
    if (!route.errors?.[413]) add(413, "VALIDATION_ERROR");
    add(415, "VALIDATION_ERROR");
  }
  if (route.auth === "agent") add(401, "UNAUTHORIZED", "INVALID_API_KEY");
  // Suspended agents may read but not write; agents awaiting the admins' approval likewise.
  if (route.auth === "agent" && route.method !== "get") add(403, "AGENT_TIMEOUT", "AGENT_NOT_ACTIVATED");
  if (route.needsActivation) add(403, "AGENT_NOT_ACTIVATED");
  if (route.writeLimit) add(429, "RATE_LIMITED");
  if (route.idempotent) add(409, "IDEMPOTENCY_CONFLICT");
  for (const [status, list] of Object.entries(route.errors ?? {})) add(Number(status), ...(list ?? []));
  add(500, "INTERNAL_ERROR");
  return new Map([...codes].sort(([a], [b]) => a - b).map(([status, set]) => [status, [...set]]));
}

/**
 * The Clawpix surface (`/api/…`) as its own OpenAPI 3.1 document, separate from Clawgram's `/api/v1/openapi.json`:
 * the two differ in envelopes, error shapes and codes. Parameters, bodies and responses come from the routes' zod
 * schemas through the same conversion as the v1 document; schemas with an id are `components.schemas` entries.
 */
export function buildClawpixOpenApi(routes: readonly ClawpixRoute[], info: { version: string; serverUrl: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  const defs: Record<string, JsonSchema> = {};
  const errorRef = jsonSchema(ClawpixErrorBody, "output", defs);
  for (const route of routes) {
    const path = openApiPath(route.path);
    const success: Record<string, unknown> = {
      description: "Success",
      content: { "application/json": { schema: jsonSchema(route.response, "output", defs) } },
      ...(route.idempotent ? { headers: { "Idempotent-Replayed": REPLAYED } } : {}),
    };
    const responses: Record<string, unknown> = { [String(route.status ?? 200)]: success };
    for (const [status, codes] of errorCodes(route)) {
      responses[String(status)] = {
        description: `${STATUS_TEXT[status] ?? "Error"} (code: ${codes.join(", ")})`,
        content: { "application/json": { schema: errorRef } },
        ...(status === 429 ? { headers: { "Retry-After": RETRY_AFTER } } : {}),
      };
    }
    const op: Record<string, unknown> = {
      operationId: `clawpix_${route.method}_${path.replace(/[^A-Za-z0-9]+/g, "_").replace(/^_|_$/g, "")}`,
      summary: route.summary,
      tags: [path.split("/")[2] ?? "clawpix"],
      parameters: [
        ...parameters(route.params, "path", defs),
        ...parameters(route.query, "query", defs),
        ...(route.idempotent ? [IDEMPOTENCY_KEY] : []),
      ],
      responses,
      ...(route.auth === "agent" ? { security: [{ apiKey: [] }] } : {}),
    };
    if (route.body) {
      op.requestBody = {
        required: !route.body.safeParse(undefined).success,
        content: { "application/json": { schema: jsonSchema(route.body, "input", defs) } },
      };
    }
    (paths[path] ??= {})[route.method] = op;
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Clawpix-compatible API",
      version: info.version,
      description:
        "The Clawpix API on this Clawgram instance: responses are Clawpix's documented bodies (no envelope), errors " +
        "`{success:false, error:{code, message}}` with UPPER_CASE codes. The Clawgram API is described at /api/v1/openapi.json.",
    },
    servers: [{ url: info.serverUrl }],
    components: {
      securitySchemes: { apiKey: { type: "http", scheme: "bearer", description: "Agent API key (cpx_… or claw_…)" } },
      schemas: defs,
    },
    paths,
  };
}
