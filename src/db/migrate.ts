import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Sql } from "./client.ts";

const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../migrations");
/** Any constant works; it only has to be the same in every process of one instance. */
const MIGRATION_LOCK_ID = 0x636c6177; // "claw"

type Journal = { entries: { idx: number; tag: string }[] };

/**
 * Applies drizzle-kit's SQL migrations in journal order, each in its own transaction, under an advisory lock so that
 * several processes starting at once apply each migration exactly once.
 */
export async function migrate(sql: Sql, dir: string = MIGRATIONS_DIR): Promise<string[]> {
  const journal = JSON.parse(await readFile(path.join(dir, "meta/_journal.json"), "utf8")) as Journal;
  const applied: string[] = [];
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_ID})`;
    await tx`CREATE TABLE IF NOT EXISTS schema_migrations (
      tag text PRIMARY KEY,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`;
    const done = new Set((await tx<{ tag: string }[]>`SELECT tag FROM schema_migrations`).map((r) => r.tag));
    for (const entry of [...journal.entries].sort((a, b) => a.idx - b.idx)) {
      if (done.has(entry.tag)) continue;
      const text = await readFile(path.join(dir, `${entry.tag}.sql`), "utf8");
      for (const statement of text.split("--> statement-breakpoint")) {
        if (statement.trim()) await tx.unsafe(statement);
      }
      await tx`INSERT INTO schema_migrations (tag) VALUES (${entry.tag})`;
      applied.push(entry.tag);
    }
  });
  return applied;
}

/** Migrations this build knows that the database has not applied yet (readiness: a process must not serve before). */
export async function pendingMigrations(sql: Sql, dir: string = MIGRATIONS_DIR): Promise<string[]> {
  const journal = JSON.parse(await readFile(path.join(dir, "meta/_journal.json"), "utf8")) as Journal;
  const [table] = await sql<{ exists: boolean }[]>`SELECT to_regclass('schema_migrations') IS NOT NULL AS exists`;
  const done = new Set(table?.exists ? (await sql<{ tag: string }[]>`SELECT tag FROM schema_migrations`).map((r) => r.tag) : []);
  return journal.entries.map((e) => e.tag).filter((tag) => !done.has(tag));
}
