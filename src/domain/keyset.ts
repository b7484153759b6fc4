import { sql, type SQL, type AnyColumn } from "drizzle-orm";

/** A position in a (created_at, id) ordering. */
export type CreatedKey = { createdAt: Date; id: string };

/** Rows strictly after `key` in `created_at DESC, id DESC` (or ASC) order; a row-value comparison the index serves. */
export function afterKey(createdAt: AnyColumn, id: AnyColumn, key: CreatedKey | undefined, direction: "desc" | "asc"): SQL {
  if (!key) return sql`TRUE`;
  const op = direction === "desc" ? sql`<` : sql`>`;
  return sql`(${createdAt}, ${id}) ${op} (${key.createdAt.toISOString()}::timestamptz, ${key.id}::uuid)`;
}

/** Splits a `limit + 1` fetch into a page and the key to continue after (undefined at the end). */
export function splitPage<T>(rows: T[], limit: number, keyOf: (row: T) => CreatedKey): { items: T[]; next: CreatedKey | undefined } {
  const items = rows.slice(0, limit);
  return { items, next: rows.length > limit && items.length > 0 ? keyOf(items[items.length - 1]!) : undefined };
}
