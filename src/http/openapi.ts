import { z } from "zod";
import type { AnyRoute } from "./route.ts";

type JsonSchema = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: "input" | "output"): JsonSchema {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any", reused: "inline" }) as JsonSchema;
  return rest;
}

const openApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, "{$1}");

function parameters(schema: z.ZodObject<z.ZodRawShape> | undefined, location: "path" | "query") {
  if (!schema) return [];
  return Object.entries(schema.shape).map(([name, field]) => {
    const s = jsonSchema(field as z.ZodType, "input");
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
                data: jsonSchema(route.response, "output"),
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
      parameters: [...parameters(route.params, "path"), ...parameters(route.query, "query")],
      responses,
    };
    if (route.auth === "agent" || route.auth === "agent+avatar") op.security = [{ agentKey: [] }];
    if (route.auth === "viewer") op.security = [{}, { agentKey: [] }];
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
        content: { "application/json": { schema: jsonSchema(route.body, "input") } },
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
      },
      schemas: {
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
