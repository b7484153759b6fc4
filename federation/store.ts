import type { KvKey, KvStore, KvStoreListEntry, KvStoreSetOptions, MessageQueue, MessageQueueEnqueueOptions, MessageQueueListenOptions } from "@fedify/fedify";
import { PostgresKvStore, PostgresMessageQueue } from "@fedify/postgres";
import type { Sql } from "../src/db/client.ts";

/**
 * @fedify/postgres 1.8.7 behind the Fedify 2.x interfaces: adds the `list` the 2.x KvStore requires and types
 * `enqueueMany` for readonly arrays. The tables come from our migrations, so nothing is created lazily.
 */
export class ClawgramKvStore implements KvStore {
  readonly #inner: PostgresKvStore;
  readonly #sql: Sql;
  constructor(sql: Sql) {
    this.#sql = sql;
    this.#inner = new PostgresKvStore(sql as never, { initialized: false });
  }
  get<T = unknown>(key: KvKey): Promise<T | undefined> {
    return this.#inner.get<T>(key);
  }
  set(key: KvKey, value: unknown, options?: KvStoreSetOptions): Promise<void> {
    return this.#inner.set(key, value, options);
  }
  delete(key: KvKey): Promise<void> {
    return this.#inner.delete(key);
  }
  /** Atomic compare-and-swap (Fedify's circuit breaker uses it so concurrent workers don't lose updates). */
  cas = async (key: KvKey, expectedValue: unknown, newValue: unknown, options?: KvStoreSetOptions): Promise<boolean> => {
    const k = [...key];
    const ttl = options?.ttl == null ? null : options.ttl.toString();
    const live = this.#sql`(ttl IS NULL OR created + ttl > now())`;
    if (expectedValue === undefined) {
      if (newValue === undefined) {
        const rows = await this.#sql`SELECT 1 FROM fedify_kv_v2 WHERE key = ${k}::text[] AND ${live}`;
        return rows.length === 0;
      }
      await this.#sql`DELETE FROM fedify_kv_v2 WHERE key = ${k}::text[] AND NOT ${live}`;
      const rows = await this.#sql`
        INSERT INTO fedify_kv_v2 (key, value, ttl) VALUES (${k}::text[], ${JSON.stringify(newValue)}::jsonb, ${ttl}::interval)
        ON CONFLICT (key) DO NOTHING RETURNING 1`;
      return rows.length > 0;
    }
    const expected = JSON.stringify(expectedValue);
    const rows =
      newValue === undefined
        ? await this.#sql`
            DELETE FROM fedify_kv_v2 WHERE key = ${k}::text[] AND value = ${expected}::jsonb AND ${live} RETURNING 1`
        : await this.#sql`
            UPDATE fedify_kv_v2 SET value = ${JSON.stringify(newValue)}::jsonb, ttl = ${ttl}::interval, created = now()
            WHERE key = ${k}::text[] AND value = ${expected}::jsonb AND ${live} RETURNING 1`;
    return rows.length > 0;
  };

  async *list(prefix: KvKey = [] as unknown as KvKey): AsyncIterable<KvStoreListEntry> {
    const p = [...prefix];
    const rows =
      p.length === 0
        ? await this.#sql<{ key: string[]; value: unknown }[]>`
            SELECT key, value FROM fedify_kv_v2 WHERE ttl IS NULL OR created + ttl > now()`
        : await this.#sql<{ key: string[]; value: unknown }[]>`
            SELECT key, value FROM fedify_kv_v2
            WHERE key[1:${p.length}] = ${p}::text[] AND (ttl IS NULL OR created + ttl > now())`;
    for (const row of rows) yield { key: row.key as unknown as KvKey, value: row.value };
  }
}

export class ClawgramMessageQueue implements MessageQueue {
  readonly #inner: PostgresMessageQueue;
  constructor(sql: Sql, options: { pollIntervalSeconds?: number } = {}) {
    this.#inner = new PostgresMessageQueue(sql as never, {
      initialized: false,
      pollInterval: { seconds: options.pollIntervalSeconds ?? 2 },
    });
  }
  enqueue(message: unknown, options?: MessageQueueEnqueueOptions): Promise<void> {
    return this.#inner.enqueue(message, options);
  }
  enqueueMany = (messages: readonly unknown[], options?: MessageQueueEnqueueOptions): Promise<void> =>
    this.#inner.enqueueMany([...messages], options);
  listen(handler: (message: unknown) => Promise<void> | void, options?: MessageQueueListenOptions): Promise<void> {
    return this.#inner.listen(handler, options);
  }
}
