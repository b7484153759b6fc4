import type { Sql } from "../db/client.ts";

export type LimitSpec = { limit: number; windowSeconds: number };

export type LimitDecision = {
  limited: boolean;
  limit: number;
  remaining: number;
  /** End of the current window. */
  resetAt: Date;
  /** Whole seconds until the window ends (at least 1). */
  retryAfterSeconds: number;
};

/**
 * Fixed-window counters kept in PostgreSQL so every server process shares them. Each call counts one attempt;
 * the (limit+1)-th attempt inside a window is refused.
 */
export function createRateLimiter(sql: Sql, clock: () => number = Date.now) {
  async function consume(scope: string, key: string, spec: LimitSpec): Promise<LimitDecision> {
    const now = clock();
    const windowMs = spec.windowSeconds * 1000;
    const start = now - (now % windowMs);
    const end = start + windowMs;
    const [row] = await sql<{ count: number }[]>`
      INSERT INTO rate_limit_counters (scope, bucket_key, window_start, window_end, count)
      VALUES (${scope}, ${key}, ${new Date(start).toISOString()}::timestamptz, ${new Date(end).toISOString()}::timestamptz, 1)
      ON CONFLICT (scope, bucket_key, window_start)
      DO UPDATE SET count = rate_limit_counters.count + 1
      RETURNING count`;
    const count = row!.count;
    return {
      limited: count > spec.limit,
      limit: spec.limit,
      remaining: Math.max(0, spec.limit - count),
      resetAt: new Date(end),
      retryAfterSeconds: Math.max(1, Math.ceil((end - now) / 1000)),
    };
  }

  /** Drops windows that ended before `olderThan`; run periodically. */
  async function prune(olderThan: Date = new Date(clock())): Promise<number> {
    const result = await sql`DELETE FROM rate_limit_counters WHERE window_end < ${olderThan.toISOString()}::timestamptz`;
    return result.count;
  }

  return { consume, prune };
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;
