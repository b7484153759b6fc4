import { randomBytes } from "node:crypto";
import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type Database } from "../src/db/client.ts";
import { startEmbeddedPostgres } from "../src/db/embedded.ts";
import { migrate } from "../src/db/migrate.ts";
import { createTestDatabase, externalDatabaseUrl, type TestDatabase } from "./helpers/db.ts";

const journalTags = async (dir = path.resolve(import.meta.dirname, "../migrations")) =>
  (JSON.parse(await readFile(path.join(dir, "meta/_journal.json"), "utf8")) as { entries: { idx: number; tag: string }[] }).entries
    .sort((a, b) => a.idx - b.idx)
    .map((e) => e.tag);

type EmptyDatabase = { url: string; kind: "postgres" | "embedded"; close(): Promise<void> };

/** A brand-new database with nothing in it: a new database on the real PostgreSQL, else a new in-memory PGlite. */
async function emptyDatabase(): Promise<EmptyDatabase> {
  if (externalDatabaseUrl) {
    const name = `clawgram_migrate_${randomBytes(6).toString("hex")}`;
    const admin = postgres(externalDatabaseUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`CREATE DATABASE ${name}`);
    const url = new URL(externalDatabaseUrl);
    url.pathname = `/${name}`;
    return {
      url: url.href,
      kind: "postgres",
      async close() {
        await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await admin.end();
      },
    };
  }
  const embedded = await startEmbeddedPostgres({});
  return { url: embedded.url, kind: "embedded", close: () => embedded.stop() };
}

/** Tables, columns, indexes and constraints of the public schema, in a stable order. */
async function schemaFingerprint(sql: Database["sql"]) {
  const columns = await sql`
    SELECT table_name, column_name, data_type, is_nullable, column_default
    FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, column_name`;
  const indexes = await sql`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname`;
  const constraints = await sql`
    SELECT conname, pg_get_constraintdef(c.oid) AS def FROM pg_constraint c
    JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public' ORDER BY conname`;
  return { columns: [...columns], indexes: [...indexes], constraints: [...constraints] };
}

describe("migrate() on a migrated database", () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => {
    await t.close();
  });

  it("lists every journal entry in schema_migrations", async () => {
    const tags = await journalTags();
    expect(tags.length).toBeGreaterThan(0);
    const rows = await t.sql`SELECT tag FROM schema_migrations ORDER BY tag`;
    expect(rows.map((r) => r.tag)).toEqual([...tags].sort());
  });

  it("is a no-op the second (and third) time: nothing applied, schema and data untouched", async () => {
    await t.sql`INSERT INTO agents (id, name, bio) VALUES ('0190a000-0000-7000-8000-000000000001', 'survivor', 'still here')`;
    const before = await schemaFingerprint(t.sql);
    const ledger = await t.sql`SELECT tag, applied_at FROM schema_migrations ORDER BY tag`;

    expect(await migrate(t.sql)).toEqual([]);
    expect(await migrate(t.sql)).toEqual([]);

    expect(await schemaFingerprint(t.sql)).toEqual(before);
    expect(await t.sql`SELECT tag, applied_at FROM schema_migrations ORDER BY tag`).toEqual(ledger);
    const agents = await t.sql`SELECT name, bio FROM agents`;
    expect([...agents]).toEqual([{ name: "survivor", bio: "still here" }]);
  });

  it("applies only pending migrations, and a failing one leaves no trace", async () => {
    // A migrations directory of its own on the already-migrated database: the ledger is shared, the tags are not.
    const dir = await mkdtemp(path.join(tmpdir(), "clawgram-migrations-"));
    const database = t;
    const journal = (tags: string[]) =>
      JSON.stringify({ version: "7", dialect: "postgresql", entries: tags.map((tag, idx) => ({ idx, version: "7", when: idx, tag, breakpoints: true })) });
    try {
      await mkdir(path.join(dir, "meta"));
      await writeFile(path.join(dir, "9000_test_one.sql"), `CREATE TABLE one (id int PRIMARY KEY);--> statement-breakpoint\nINSERT INTO one VALUES (1);`);
      await writeFile(path.join(dir, "meta/_journal.json"), journal(["9000_test_one"]));
      expect(await migrate(database.sql, dir)).toEqual(["9000_test_one"]);

      // A migration that fails half-way: its first statement must not survive, and it is not recorded.
      await writeFile(path.join(dir, "9001_test_two.sql"), `CREATE TABLE two (id int);--> statement-breakpoint\nSELECT 1 / 0;`);
      await writeFile(path.join(dir, "meta/_journal.json"), journal(["9000_test_one", "9001_test_two"]));
      await expect(migrate(database.sql, dir)).rejects.toThrow(/division by zero/);
      const two = await database.sql`SELECT to_regclass('public.two') AS t`;
      expect(two[0]!.t).toBeNull();
      expect((await database.sql`SELECT tag FROM schema_migrations WHERE tag IN ('9000_test_one', '9001_test_two')`).map((r) => r.tag)).toEqual(["9000_test_one"]);

      // Fixed, it applies; 0000 is not run again (its INSERT would fail on the primary key).
      await writeFile(path.join(dir, "9001_test_two.sql"), `CREATE TABLE two (id int);`);
      expect(await migrate(database.sql, dir)).toEqual(["9001_test_two"]);
      expect((await database.sql`SELECT tag FROM schema_migrations WHERE tag IN ('9000_test_one', '9001_test_two') ORDER BY tag`).map((r) => r.tag)).toEqual(["9000_test_one", "9001_test_two"]);
      expect(await migrate(database.sql, dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("migrate() on a fresh database", () => {
  it("applies every migration exactly once when several processes migrate at the same time", async () => {
    const fresh = await emptyDatabase();
    // Separate connections, as separate server processes starting together would have. PGlite serialises them
    // through its socket server; on PostgreSQL they really run at once and meet at the advisory lock.
    const processes = Array.from({ length: 6 }, () => connect(fresh.url, { max: 1 }));
    try {
      const results = await Promise.all(processes.map((p) => migrate(p.sql)));
      const tags = await journalTags();
      // Exactly one of them did the work; the rest found everything applied.
      expect(results.filter((r) => r.length > 0)).toEqual([tags]);
      expect(results.flat().sort()).toEqual([...tags].sort());

      const sql = processes[0]!.sql;
      const rows = await sql`SELECT tag FROM schema_migrations ORDER BY tag`;
      expect(rows.map((r) => r.tag)).toEqual([...tags].sort());
      const tables = await sql`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`;
      expect(tables.map((r) => r.tablename)).toEqual(expect.arrayContaining(["agents", "api_keys", "rate_limit_counters", "schema_migrations"]));
      // And the schema works.
      await sql`INSERT INTO agents (id, name) VALUES ('0190a000-0000-7000-8000-000000000002', 'fresh')`;
      expect((await sql`SELECT count(*)::int AS n FROM agents`)[0]!.n).toBe(1);
      expect(await migrate(sql)).toEqual([]);
    } finally {
      await Promise.all(processes.map((p) => p.close()));
      await fresh.close();
    }
  });
});
