import { drizzle, type PostgresJsDatabase } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import * as schema from "./schema.ts";

export type Sql = postgres.Sql;
export type Db = PostgresJsDatabase<typeof schema>;

export type Database = {
  sql: Sql;
  db: Db;
  close(): Promise<void>;
};

export function connect(url: string, options: { max?: number } = {}): Database {
  const sql = postgres(url, {
    max: options.max ?? 10,
    onnotice: () => {},
    // Timestamps stay Date objects; bigint counts come back as numbers where we cast them.
    connection: { application_name: "clawgram" },
  });
  const db = drizzle(sql, { schema });
  return {
    sql,
    db,
    async close() {
      await sql.end({ timeout: 5 });
    },
  };
}
