import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { readFile, rename, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import postgres from "postgres";
import { connect, type Database } from "../../src/db/client.ts";
import { startEmbeddedPostgres } from "../../src/db/embedded.ts";
import { migrate } from "../../src/db/migrate.ts";

export type TestDatabase = Database & { url: string; kind: "postgres" | "embedded" };

/** The real PostgreSQL tests should use, if any (CI sets TEST_DATABASE_URL). */
export const externalDatabaseUrl = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL || undefined;

/**
 * A fresh, migrated database for one test file: a new database on the real PostgreSQL when one is configured,
 * otherwise an in-memory embedded PGlite. `close()` drops it.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  if (externalDatabaseUrl) {
    const name = `clawgram_test_${randomBytes(6).toString("hex")}`;
    const admin = postgres(externalDatabaseUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`CREATE DATABASE ${name}`);
    const url = new URL(externalDatabaseUrl);
    url.pathname = `/${name}`;
    const database = connect(url.href, { max: 10 });
    await migrate(database.sql);
    return {
      ...database,
      url: url.href,
      kind: "postgres",
      async close() {
        await database.close();
        await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await admin.end();
      },
    };
  }
  const embedded = await startEmbeddedPostgres({ loadDataDir: await migratedTemplate() });
  const database = connect(embedded.url, { max: 1 });
  await migrate(database.sql); // a no-op on the template, kept so a stale template can't skip a migration
  return {
    ...database,
    url: embedded.url,
    kind: "embedded",
    async close() {
      await database.close();
      await embedded.stop();
    },
  };
}

const MIGRATIONS = path.resolve(import.meta.dirname, "../../migrations");

/**
 * A freshly migrated PGlite data directory, built once per set of migrations and shared by every test file through
 * a file in the OS temp dir: each file then starts from it instead of running initdb and every migration again.
 */
async function migratedTemplate(): Promise<Blob> {
  const hash = createHash("sha256");
  for (const f of readdirSync(MIGRATIONS).filter((f) => f.endsWith(".sql")).sort()) hash.update(readFileSync(path.join(MIGRATIONS, f)));
  const file = path.join(tmpdir(), `clawgram-pglite-template-${hash.digest("hex").slice(0, 16)}.tar`);
  try {
    return new Blob([await readFile(file)]);
  } catch {
    const embedded = await startEmbeddedPostgres({});
    const database = connect(embedded.url, { max: 1 });
    await migrate(database.sql);
    await database.close();
    const blob = await embedded.snapshot();
    await embedded.stop();
    const tmp = `${file}.${randomBytes(4).toString("hex")}`;
    await writeFile(tmp, Buffer.from(await blob.arrayBuffer()));
    await rename(tmp, file);
    return blob;
  }
}
