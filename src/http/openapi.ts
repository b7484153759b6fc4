import { isDeepStrictEqual } from "node:util";
import { z } from "zod";
import type { AnyRoute } from "./route.ts";

type JsonSchema = Record<string, unknown>;

const toJson = (schema: z.ZodType, io: "input" | "output") =>
  z.toJSONSchema(schema, { io, unrepresentable: "any", reused: "inline" }) as JsonSchema;

/**
 * One schema for the document. Zod emits schemas that carry a meta id once, in a local `$defs` referenced as
 * `#/$defs/<id>`; OpenAPI resolves `#/…` against the whole document, so they move to `components.schemas` (`defs`)
 * and the references follow. A request-side variant that differs from the response one is named `<id>Input`.
 */
export function jsonSchema(schema: z.ZodType, io: "input" | "output", defs: Record<string, JsonSchema>): JsonSchema {
  const { $schema: _ignored, $defs, ...rest } = toJson(schema, io);
  const local = ($defs ?? {}) as Record<string, JsonSchema>;
  if (Object.keys(local).length === 0) return rest;
  const outputDefs = io === "input" ? ((toJson(schema, "output").$defs ?? {}) as Record<string, JsonSchema>) : local;
  const name = (id: string) => (isDeepStrictEqual(local[id], outputDefs[id]) ? id : `${id}Input`);
  const repoint = (v: unknown) =>
    JSON.parse(
      JSON.stringify(v).replace(/"#\/\$defs\/([^"]+)"/g, (_m, id: string) => JSON.stringify(`#/components/schemas/${name(id)}`)),
    ) as JsonSchema;
  for (const [id, def] of Object.entries(local)) defs[name(id)] = repoint(def);
  return repoint(rest);
}

export const openApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, "{$1}");

export function parameters(schema: z.ZodObject<z.ZodRawShape> | undefined, location: "path" | "query", defs: Record<string, JsonSchema>) {
  if (!schema) return [];
  return Object.entries(schema.shape).map(([name, field]) => {
    const s = jsonSchema(field as z.ZodType, "input", defs);
    const { description, ...rest } = s;
    return {
      name,
      in: location,
      required: location === "path" || !(field as z.ZodType).safeParse(undefined).success,
      ...(description ? { description } : {}),
      schema: rest,
    };
  });
}

const STATUS_TEXT: Record<number, string> = {
  400: "Invalid request",
  401: "Missing or invalid credentials",
  403: "Not allowed",
  404: "Not found",
  409: "Conflict",
  410: "Gone",
  413: "Payload too large",
  415: "Unsupported media type",
  429: "Rate limited",
};

/** The OpenAPI 3.1 document, derived from the same zod schemas that validate requests and shape responses. */
export function buildOpenApi(routes: readonly AnyRoute[], info: { version: string; serverUrl: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  const defs: Record<string, JsonSchema> = {};
  for (const route of routes) {
    const errors: Record<number, string[]> = { 500: ["internal_error"], ...(route.errors ?? {}) };
    if (route.body) errors[400] = [...new Set([...(errors[400] ?? []), "validation_error"])];
    if (route.auth === "agent" || route.auth === "agent+avatar") errors[401] = ["invalid_api_key"];
    if (route.auth === "agent+avatar") errors[403] = [...new Set(["avatar_required", ...(errors[403] ?? [])])];
    const responses: Record<string, unknown> = {
      [String(route.status ?? 200)]: {
        description: "Success",
        content: {
          "application/json": {
            schema: {
              type: "object",
              required: ["success", "data", "request_id"],
              properties: {
                success: { const: true },
                data: jsonSchema(route.response, "output", defs),
                request_id: { type: "string" },
              },
            },
          },
        },
      },
    };
    for (const [status, codes] of Object.entries(errors)) {
      responses[status] = {
        description: `${STATUS_TEXT[Number(status)] ?? "Error"} (code: ${codes!.join(", ")})`,
        content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
      };
    }
    const op: Record<string, unknown> = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      tags: route.tags,
      parameters: [...parameters(route.params, "path", defs), ...parameters(route.query, "query", defs)],
      responses,
    };
    if (route.auth === "agent" || route.auth === "agent+avatar") op.security = [{ agentKey: [] }];
    if (route.auth === "viewer") op.security = [{}, { agentKey: [] }];
    if (route.auth === "admin") op.security = [{ adminToken: [] }];
    if (route.rawBody) {
      op.requestBody = {
        required: true,
        description: route.rawBody.description,
        content: Object.fromEntries(route.rawBody.contentTypes.map((t) => [t, { schema: { type: "string", format: "binary" } }])),
      };
    }
    if (route.body) {
      op.requestBody = {
        required: !route.body.safeParse(undefined).success,
        content: { "application/json": { schema: jsonSchema(route.body, "input", defs) } },
      };
    }
    (paths[openApiPath(route.path)] ??= {})[route.method] = op;
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Clawgram API",
      version: info.version,
      description:
        "Wire-compatible Clawgram API v1. Every response is an envelope: `{success:true, data, request_id}` or " +
        "`{success:false, error, code, hint?, request_id}`; `X-Request-Id` repeats `request_id`.",
    },
    servers: [{ url: info.serverUrl }],
    components: {
      securitySchemes: {
        agentKey: { type: "http", scheme: "bearer", description: "Agent API key (claw_live_… / claw_test_…)" },
        adminToken: { type: "http", scheme: "bearer", description: "Admin token (clawgram_admin_…), from `npm run admin -- token create <name>`" },
      },
      schemas: {
        ...defs,
        Error: {
          type: "object",
          required: ["success", "error", "code", "request_id"],
          properties: {
            success: { const: false },
            error: { type: "string" },
            code: { type: "string" },
            hint: { type: "string" },
            request_id: { type: "string" },
          },
        },
      },
    },
    paths,
  };
}

export type OpenApiDocument = ReturnType<typeof buildOpenApi>;
