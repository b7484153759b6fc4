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

/**
 * Statement texts this process prepares at most (per connection, on the server): a backstop for query builders whose
 * text varies with the data (an IN list of n parameters), so those cannot grow the statement caches without end.
 */
const MAX_PREPARED_TEXTS = 2000;
/** A text is prepared from its second use on: one-off statements (migrations, admin tasks) stay unnamed. */
const PREPARE_AFTER_USES = 2;

/**
 * Decides which of drizzle's statements run as prepared statements. drizzle sends every query it did not build
 * with `.prepare()` as unnamed (`prepare: false`), and postgres.js must then describe a statement that has
 * parameters before it can bind them: two round trips per query instead of one. postgres.js prepares its own tagged
 * templates by default; this extends that to drizzle's repeated statements. `?prepare=false` in DATABASE_URL (for a
 * transaction-mode pooler) turns every prepared statement off, postgres.js's own included.
 */
function preparePolicy(enabled: boolean) {
  const uses = new Map<string, number>();
  const hot = new Set<string>();
  return (text: string): boolean => {
    if (!enabled) return false;
    if (hot.has(text)) return true;
    const n = (uses.get(text) ?? 0) + 1;
    if (n >= PREPARE_AFTER_USES && hot.size < MAX_PREPARED_TEXTS) {
      uses.delete(text);
      hot.add(text);
      return true;
    }
    if (uses.size >= 10 * MAX_PREPARED_TEXTS) uses.clear();
    uses.set(text, n);
    return false;
  };
}

type UnsafeOptions = { prepare?: boolean } | undefined;

/** `sql` as drizzle sees it: unnamed statements it runs repeatedly become prepared (see `preparePolicy`). */
function withPreparedStatements<T extends Sql>(sql: T, shouldPrepare: (text: string) => boolean, extra: Record<string, unknown> = {}): T {
  const unsafe = (text: string, params?: unknown[], options?: UnsafeOptions) =>
    sql.unsafe(
      text,
      params as never,
      options?.prepare === false && params && params.length > 0 && shouldPrepare(text) ? { ...options, prepare: true } : options,
    );
  return new Proxy(sql, {
    get(target, property, receiver) {
      if (property === "unsafe") return unsafe;
      if (Object.hasOwn(extra, property)) return extra[property as string];
      return Reflect.get(target, property, receiver);
    },
  });
}

/**
 * `sql.begin` on a connection of its own. postgres.js 3.4.9's `begin` sends BEGIN through the shared pool, which
 * under a burst (every connection busy) pipelines it onto a connection that still has other queries in flight or
 * already carries another transaction, and puts the transaction's connection back among the busy ones, where other
 * queries can be pipelined into the open transaction; the result is `UNSAFE_TRANSACTION` errors (porsager/postgres
 * #823, #1189). `sql.reserve()` only ever hands out an idle connection and keeps it out of the pool until released,
 * so BEGIN … COMMIT here always run alone on their connection.
 */
function reservedBegin(sql: Sql, shouldPrepare: (text: string) => boolean) {
  type Scope = (tx: Sql) => unknown;
  return async function begin(first: string | Scope, second?: Scope): Promise<unknown> {
    const [mode, fn] = typeof first === "function" ? ["", first] : [first, second!];
    const reserved = await sql.reserve();
    try {
      await reserved.unsafe(`BEGIN ${mode.replace(/[^a-z ]/gi, "")}`);
      const result = await inScope(reserved, fn, async () => {
        await reserved.unsafe("ROLLBACK");
      });
      await reserved.unsafe("COMMIT");
      return result;
    } finally {
      reserved.release();
    }
  };

  /** Runs `fn` with a scoped `sql` (savepoints nest); `undo` runs when it throws, then the error propagates. */
  async function inScope(reserved: postgres.ReservedSql, fn: Scope, undo: () => Promise<void>): Promise<unknown> {
    let savepoints = 0;
    const savepoint = async (first: string | Scope, second?: Scope) => {
      const [label, inner] = typeof first === "function" ? ["", first] : [first, second!];
      const name = `s${savepoints++}${label ? `_${label.replace(/\W/g, "")}` : ""}`;
      await reserved.unsafe(`SAVEPOINT ${name}`);
      const result = await inScope(reserved, inner, async () => {
        await reserved.unsafe(`ROLLBACK TO SAVEPOINT ${name}`);
      });
      await reserved.unsafe(`RELEASE SAVEPOINT ${name}`);
      return result;
    };
    const scoped = withPreparedStatements(reserved as Sql, shouldPrepare, { savepoint });
    try {
      const x = fn(scoped);
      return await (Array.isArray(x) ? Promise.all(x) : x);
    } catch (error) {
      await undo();
      throw error;
    }
  }
}

/** `maxPipeline`: queries pipelined on one connection (postgres.js default 100; tests lower it to reach the boundary). */
export function connect(url: string, options: { max?: number; maxPipeline?: number } = {}): Database {
  const sql = postgres(url, {
    max: options.max ?? 10,
    ...(options.maxPipeline ? { max_pipeline: options.maxPipeline } : {}),
    onnotice: () => {},
    // Timestamps stay Date objects; bigint counts come back as numbers where we cast them.
    connection: { application_name: "clawgram" },
  });
  const shouldPrepare = preparePolicy(sql.options.prepare !== false);
  // Every transaction, drizzle's and our own, goes through the reserving `begin`.
  Object.assign(sql, { begin: reservedBegin(sql, shouldPrepare) });
  const db = drizzle(withPreparedStatements(sql, shouldPrepare), { schema });
  return {
    sql,
    db,
    async close() {
      await sql.end({ timeout: 5 });
    },
  };
}
