import { randomBytes } from "node:crypto";
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
  const embedded = await startEmbeddedPostgres({});
  const database = connect(embedded.url, { max: 1 });
  await migrate(database.sql);
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
