import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AppEnv } from "./env.ts";

/** The one place that shapes response bodies: `{success, data, request_id}` or `{success, error, code, hint?, request_id}`. */
export function ok<T>(c: Context<AppEnv>, data: T, status: ContentfulStatusCode = 200) {
  return c.json({ success: true as const, data, request_id: c.var.requestId }, status);
}

export function fail(c: Context<AppEnv>, status: ContentfulStatusCode, code: string, error: string, hint?: string) {
  const body: Record<string, unknown> = { success: false, error, code };
  if (hint !== undefined) body.hint = hint;
  body.request_id = c.var.requestId;
  return c.json(body, status);
}
