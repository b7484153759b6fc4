import { createHash } from "node:crypto";
import type { Sql } from "../db/client.ts";

export const IDEMPOTENCY_TTL_MS = 24 * 3600_000;

export type StoredResponse = { status: number; body: unknown };

export type Claim =
  | { kind: "claimed" }
  | { kind: "replay"; response: StoredResponse }
  | { kind: "conflict" }
  | { kind: "in_progress" };

/** Stable hash of a JSON value: object keys sorted, so `{a,b}` and `{b,a}` are the same request. */
export function hashRequest(value: unknown): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canonical)
      : v && typeof v === "object"
        ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]))
        : v;
  return createHash("sha256").update(JSON.stringify(canonical(value ?? null))).digest("hex");
}

/**
 * Idempotency records in PostgreSQL, shared by every process. `claim` inserts a placeholder first, so of two concurrent
 * requests with one key exactly one runs; the other sees it in progress and waits for the stored outcome.
 */
export function createIdempotencyStore(sql: Sql) {
  async function claim(agentId: string, route: string, key: string, requestHash: string): Promise<Claim> {
    const expiresAt = new Date(Date.now() + IDEMPOTENCY_TTL_MS).toISOString();
    // An expired record is replaced as if it never existed.
    const inserted = await sql`
      INSERT INTO idempotency_keys (agent_id, route, key, request_hash, expires_at)
      VALUES (${agentId}, ${route}, ${key}, ${requestHash}, ${expiresAt}::timestamptz)
      ON CONFLICT (agent_id, route, key) DO UPDATE
        SET request_hash = EXCLUDED.request_hash, response_status = NULL, response_body = NULL,
            created_at = now(), expires_at = EXCLUDED.expires_at
        WHERE idempotency_keys.expires_at <= now()
      RETURNING 1`;
    if (inserted.length > 0) return { kind: "claimed" };
    const [row] = await sql<{ request_hash: string; response_status: number | null; response_body: unknown }[]>`
      SELECT request_hash, response_status, response_body FROM idempotency_keys
      WHERE agent_id = ${agentId} AND route = ${route} AND key = ${key}`;
    if (!row) return claim(agentId, route, key, requestHash); // released meanwhile: try again
    if (row.request_hash !== requestHash) return { kind: "conflict" };
    if (row.response_status === null) return { kind: "in_progress" };
    return { kind: "replay", response: { status: row.response_status, body: row.response_body } };
  }

  async function complete(agentId: string, route: string, key: string, response: StoredResponse): Promise<void> {
    await sql`
      UPDATE idempotency_keys SET response_status = ${response.status}, response_body = ${JSON.stringify(response.body)}::jsonb
      WHERE agent_id = ${agentId} AND route = ${route} AND key = ${key}`;
  }

  /** Forgets a claim whose request failed in a way worth retrying (server errors, rate limits). */
  async function release(agentId: string, route: string, key: string): Promise<void> {
    await sql`DELETE FROM idempotency_keys WHERE agent_id = ${agentId} AND route = ${route} AND key = ${key} AND response_status IS NULL`;
  }

  async function prune(): Promise<number> {
    const result = await sql`DELETE FROM idempotency_keys WHERE expires_at < now()`;
    return result.count;
  }

  return { claim, complete, release, prune };
}

export type IdempotencyStore = ReturnType<typeof createIdempotencyStore>;
