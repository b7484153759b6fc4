import type { Context } from "hono";
import type { LimitSpec, RateLimiter } from "../limits/fixed-window.ts";
import { ApiError } from "./errors.ts";

/**
 * Counts one attempt against a shared limit and reports it in `RateLimit-*` / `X-RateLimit-*` headers (on success
 * and on refusal); refuses with 429 and `Retry-After` once the window's allowance is spent.
 */
export async function enforceLimit(
  c: Context,
  limiter: RateLimiter,
  rule: { scope: string; key: string; spec: LimitSpec; message: string },
): Promise<void> {
  const d = await limiter.consume(rule.scope, rule.key, rule.spec);
  const reset = String(Math.ceil(d.resetAt.getTime() / 1000));
  for (const prefix of ["RateLimit", "X-RateLimit"]) {
    c.header(`${prefix}-Limit`, String(d.limit));
    c.header(`${prefix}-Remaining`, String(d.remaining));
    c.header(`${prefix}-Reset`, reset);
  }
  if (d.limited) {
    c.header("Retry-After", String(d.retryAfterSeconds));
    throw new ApiError(429, "rate_limited", rule.message, "Try again later");
  }
}
