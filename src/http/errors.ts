import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { getLogger } from "@logtape/logtape";
import { DomainError, type ErrorKind } from "../domain/errors.ts";
import { fail } from "./envelope.ts";
import type { AppEnv } from "./env.ts";

const log = getLogger(["clawgram", "http"]);

const KIND_STATUS: Record<ErrorKind, ContentfulStatusCode> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  gone: 410,
  too_large: 413,
  unsupported: 415,
  range: 416,
  rate_limited: 429,
};

/** The contract's generic status → code mapping, for errors raised without a specific code. */
export function codeForStatus(status: number): string {
  switch (status) {
    case 400:
      return "validation_error";
    case 401:
      return "invalid_api_key";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 413:
      return "payload_too_large";
    case 415:
      return "unsupported_media_type";
    case 429:
      return "rate_limited";
    default:
      return "internal_error";
  }
}

/** An error that already knows its HTTP status and contract code. */
export class ApiError extends Error {
  readonly status: ContentfulStatusCode;
  readonly code: string;
  readonly hint: string | undefined;
  constructor(status: ContentfulStatusCode, code: string, message: string, hint?: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.hint = hint;
  }
}

export const validationFailed = (hint?: string) =>
  new ApiError(400, "validation_error", "Request validation failed", hint);
export const invalidApiKey = () => new ApiError(401, "invalid_api_key", "Invalid API key");

/** HTTP status an error will be answered with, or undefined for unexpected errors (500). */
export function statusOf(err: unknown): number | undefined {
  if (err instanceof ApiError) return err.status;
  if (err instanceof DomainError) return KIND_STATUS[err.kind];
  return undefined;
}

export function handleError(err: unknown, c: Context<AppEnv>) {
  if (err instanceof ApiError) return fail(c, err.status, err.code, err.message, err.hint);
  if (err instanceof DomainError) return fail(c, KIND_STATUS[err.kind], err.code, err.message, err.hint);
  if (err instanceof HTTPException && err.status < 500) {
    const status = err.status as ContentfulStatusCode;
    return fail(c, status, codeForStatus(status), err.message || "Request failed");
  }
  log.error("Unhandled error on {method} {path} ({requestId}): {error}", {
    method: c.req.method,
    path: c.req.path,
    requestId: c.var.requestId,
    error: err,
  });
  return fail(c, 500, "internal_error", "Internal server error");
}
