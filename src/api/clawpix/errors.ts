import type { Context } from "hono";
import type { z } from "zod";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { getLogger } from "@logtape/logtape";
import { DomainError } from "../../domain/errors.ts";
import { ContentPolicyError } from "../../domain/moderation/content-policy.ts";
import { UploadFailed } from "../../domain/clawpix/publish.ts";
import { ApiError, statusOf } from "../../http/errors.ts";
import type { ClawpixErrorBody } from "./schemas.ts";

const log = getLogger(["clawgram", "clawpix"]);

/** Clawpix's published error codes, plus INTERNAL_ERROR for our own failures (it documents none for those). */
export const CLAWPIX_CODES = [
  "UNAUTHORIZED",
  "INVALID_API_KEY",
  "AGENT_NOT_ACTIVATED",
  "AGENT_TIMEOUT",
  "RATE_LIMITED",
  "VALIDATION_ERROR",
  "INVALID_IMAGE",
  "INVALID_DIMENSIONS",
  "CONTENT_VIOLATION",
  "UPLOAD_FAILED",
  "NOT_FOUND",
  "FORBIDDEN",
  "ALREADY_DELETED",
  // Ours: a reused Idempotency-Key (Clawpix has no idempotency).
  "IDEMPOTENCY_CONFLICT",
  "INTERNAL_ERROR",
] as const;
export type ClawpixCode = (typeof CLAWPIX_CODES)[number];
const KNOWN = new Set<string>(CLAWPIX_CODES);

/** An error raised by the Clawpix surface itself, already in its terms. */
export class ClawpixError extends Error {
  readonly status: ContentfulStatusCode;
  readonly code: ClawpixCode;
  constructor(status: ContentfulStatusCode, code: ClawpixCode, message: string) {
    super(message);
    this.name = "ClawpixError";
    this.status = status;
    this.code = code;
  }
}

/** The one place that shapes Clawpix error bodies: `{success: false, error: {code, message}}`. */
export function clawpixFail(c: Context, status: ContentfulStatusCode, code: ClawpixCode, message: string) {
  const body: z.output<typeof ClawpixErrorBody> = { success: false, error: { code, message } };
  return c.json(body, status);
}

/** Our codes that have a Clawpix name of their own; everything else goes by status. */
const RENAMED: Record<string, ClawpixCode> = {
  account_suspended: "AGENT_TIMEOUT",
  account_pending_approval: "AGENT_NOT_ACTIVATED",
  cannot_follow_self: "VALIDATION_ERROR",
  comment_empty: "VALIDATION_ERROR",
  comment_too_long: "VALIDATION_ERROR",
};

function byStatus(status: number): ClawpixCode {
  switch (status) {
    case 401:
      return "INVALID_API_KEY";
    case 403:
      return "FORBIDDEN";
    case 404:
      return "NOT_FOUND";
    case 410:
      return "ALREADY_DELETED";
    case 429:
      return "RATE_LIMITED";
    default:
      return status < 500 ? "VALIDATION_ERROR" : "INTERNAL_ERROR";
  }
}

/** Clawgram's errors (domain, HTTP, body parser) in Clawpix's terms; unexpected ones are logged and answered 500. */
export function toClawpix(err: unknown, path: string): { status: ContentfulStatusCode; code: ClawpixCode; message: string } {
  if (err instanceof ClawpixError) return { status: err.status, code: err.code, message: err.message };
  // Clawpix's own code for a post refused by content policy (ours: the admin's blocked terms and images).
  if (err instanceof ContentPolicyError) return { status: 400, code: "CONTENT_VIOLATION", message: err.message };
  if (err instanceof UploadFailed) {
    log.error("Clawpix publish could not store an image: {error}", { error: err.cause });
    return { status: 502, code: "UPLOAD_FAILED", message: err.message };
  }
  if (err instanceof ApiError || err instanceof DomainError) {
    const status = statusOf(err) as ContentfulStatusCode;
    // The only body big enough to be refused is an image: on publish, too large is an image problem.
    if (status === 413 && path === "/api/posts/publish") return { status, code: "INVALID_IMAGE", message: "Image is larger than 2 MB" };
    const upper = err.code.toUpperCase();
    const code = RENAMED[err.code] ?? (KNOWN.has(upper) ? (upper as ClawpixCode) : byStatus(status));
    const message = err.hint && status === 400 && err.code === "validation_error" ? `${err.message}: ${err.hint}` : err.message;
    return { status, code, message };
  }
  if (err instanceof HTTPException && err.status < 500) {
    const status = err.status as ContentfulStatusCode;
    return { status, code: byStatus(status), message: err.message || "Request failed" };
  }
  log.error("Unhandled error on Clawpix {path}: {error}", { path, error: err });
  return { status: 500, code: "INTERNAL_ERROR", message: "Internal server error" };
}

/** app.onError for the Clawpix paths. */
export function handleClawpixError(err: unknown, c: Context) {
  const { status, code, message } = toClawpix(err, c.req.path);
  return clawpixFail(c, status, code, message);
}

export const clawpixNotFound = (c: Context) => clawpixFail(c, 404, "NOT_FOUND", "Route not found");
