import path from "node:path";
import type { Config } from "../config/index.ts";
import { connect, type Database } from "./client.ts";
import { startEmbeddedPostgres } from "./embedded.ts";
import { migrate } from "./migrate.ts";

export type OpenDatabase = Database & { embedded: boolean };

/**
 * Connects to DATABASE_URL, or starts the embedded PGlite in `$DATA_DIR/pg` when it is unset, then applies pending
 * migrations. `close()` also stops the embedded server.
 */
export async function openDatabase(config: Pick<Config, "databaseUrl" | "dataDir" | "databasePoolMax">): Promise<OpenDatabase> {
  if (config.databaseUrl) {
    const database = connect(config.databaseUrl, { max: config.databasePoolMax });
    await migrate(database.sql);
    return { ...database, embedded: false };
  }
  const embedded = await startEmbeddedPostgres({ dataDir: path.join(config.dataDir, "pg") });
  // PGlite runs one statement at a time and its socket multiplexer can interleave two connections' extended-protocol
  // messages, so the pool keeps a single connection; throughput is the same since PGlite is single-threaded.
  const database = connect(embedded.url, { max: 1 });
  try {
    await migrate(database.sql);
  } catch (err) {
    await database.close();
    await embedded.stop();
    throw err;
  }
  return {
    ...database,
    embedded: true,
    async close() {
      await database.close();
      await embedded.stop();
    },
  };
}
