import type { KvKey, KvStore, KvStoreListEntry, KvStoreSetOptions, MessageQueue, MessageQueueEnqueueOptions, MessageQueueListenOptions } from "@fedify/fedify";
import { PostgresKvStore, PostgresMessageQueue } from "@fedify/postgres";
import { getLogger } from "@logtape/logtape";
import type { Sql } from "../src/db/client.ts";

const queueLog = getLogger(["clawgram", "federation", "queue"]);

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

const QUEUE_TABLE = "fedify_message_v2";
const QUEUE_CHANNEL = "fedify_channel";

/**
 * @fedify/postgres 1.8.7's queue for enqueueing (INSERT + NOTIFY, the same table and channel), with our own `listen`
 * loop. Ours differs in three ways:
 * - Enqueues made by this process wake this process's listeners directly. NOTIFY never reaches a LISTEN connection
 *   on the embedded PGlite (one shared session: the notification goes back to the notifying connection), so there
 *   every hop waited for the poll interval (2 s per inbox or delivery step); on PostgreSQL NOTIFY still wakes other
 *   processes (separate `worker` role) as before.
 * - Dequeue uses `FOR UPDATE SKIP LOCKED`, so several workers don't queue up behind one row.
 * - A handler that throws is logged and the loop goes on; in the inner loop one throw ended `listen` (and with it
 *   every delivery) for good.
 */
/** The ordering key Fedify puts in its queued messages (`orderingKey`), if any. */
function orderingKeyOf(message: unknown): string | undefined {
  const key = message && typeof message === "object" ? (message as { orderingKey?: unknown }).orderingKey : undefined;
  return typeof key === "string" ? key : undefined;
}

export class ClawgramMessageQueue implements MessageQueue {
  readonly #inner: PostgresMessageQueue;
  readonly #sql: Sql;
  readonly #pollMs: number;
  readonly #workers: number;
  /** Listeners of this process, woken by local enqueues. */
  readonly #wakers = new Set<(delayMs: number) => void>();

  /** `workers`: messages handled at once by each `listen` (deliveries wait on the network, not on this process). */
  constructor(sql: Sql, options: { pollIntervalSeconds?: number; workers?: number } = {}) {
    this.#sql = sql;
    this.#pollMs = (options.pollIntervalSeconds ?? 2) * 1000;
    this.#workers = Math.max(1, options.workers ?? 1);
    this.#inner = new PostgresMessageQueue(sql as never, {
      initialized: false,
      pollInterval: { seconds: options.pollIntervalSeconds ?? 2 },
      tableName: QUEUE_TABLE,
      channelName: QUEUE_CHANNEL,
    });
  }

  #wake(options?: MessageQueueEnqueueOptions): void {
    const delayMs = options?.delay ? options.delay.total("millisecond") : 0;
    for (const wake of this.#wakers) wake(delayMs);
  }

  async enqueue(message: unknown, options?: MessageQueueEnqueueOptions): Promise<void> {
    await this.#inner.enqueue(message, options);
    this.#wake(options);
  }

  enqueueMany = async (messages: readonly unknown[], options?: MessageQueueEnqueueOptions): Promise<void> => {
    await this.#inner.enqueueMany([...messages], options);
    this.#wake(options);
  };

  async listen(handler: (message: unknown) => Promise<void> | void, options: MessageQueueListenOptions = {}): Promise<void> {
    const { signal } = options;
    if (signal?.aborted) return;
    const timers = new Set<ReturnType<typeof setTimeout>>();
    let pending: boolean;
    let resume: () => void = () => {};
    const nudge = () => {
      pending = true;
      resume();
    };
    const wakeAfter = (delayMs: number) => {
      if (delayMs < 1) return nudge();
      const timer = setTimeout(() => {
        timers.delete(timer);
        nudge();
      }, delayMs);
      timer.unref?.();
      timers.add(timer);
    };
    this.#wakers.add(wakeAfter);
    // Messages being handled, and per ordering key the last one of that key: Fedify gives related activities (a
    // post's Create and its Delete, a like and its undo, per recipient server) one key, and a message starts only
    // after the one before it with its key has finished, so they arrive in the order they were sent.
    const running = new Set<Promise<void>>();
    const lastOfKey = new Map<string, Promise<void>>();
    const start = (message: unknown) => {
      const key = orderingKeyOf(message);
      const before = key === undefined ? undefined : lastOfKey.get(key);
      const run = (async () => {
        if (before) await before;
        try {
          await handler(message);
        } catch (error) {
          queueLog.error("Federation queue handler failed: {error}", { error });
        }
      })();
      if (key !== undefined) {
        lastOfKey.set(key, run);
        void run.then(() => {
          if (lastOfKey.get(key) === run) lastOfKey.delete(key);
        });
      }
      running.add(run);
      void run.then(() => running.delete(run));
    };
    const onAbort = () => resume();
    signal?.addEventListener("abort", onAbort);
    let subscription: { unlisten(): Promise<void> } | null = null;
    try {
      subscription = await this.#sql.listen(
        QUEUE_CHANNEL,
        (delay) => {
          let ms = 0;
          try {
            ms = Temporal.Duration.from(delay).total("millisecond");
          } catch {
            // Not a duration: just look.
          }
          wakeAfter(ms);
        },
        nudge,
      );
      while (!signal?.aborted) {
        pending = false;
        // Drain everything that is due, oldest first, up to `workers` at a time.
        for (;;) {
          if (signal?.aborted) return;
          while (running.size >= this.#workers) await Promise.race(running);
          if (signal?.aborted) return;
          const [row] = await this.#sql<{ message: unknown }[]>`
            DELETE FROM ${this.#sql(QUEUE_TABLE)}
            WHERE id = (
              SELECT id FROM ${this.#sql(QUEUE_TABLE)}
              WHERE created + delay < CURRENT_TIMESTAMP
              ORDER BY created
              LIMIT 1
              FOR UPDATE SKIP LOCKED
            )
            RETURNING message`;
          if (!row) break;
          start(row.message);
        }
        if (pending || signal?.aborted) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.#pollMs);
          resume = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        resume = () => {};
      }
    } finally {
      // Messages already taken off the queue are finished, not dropped, when the listener stops.
      await Promise.all(running);
      this.#wakers.delete(wakeAfter);
      signal?.removeEventListener("abort", onAbort);
      for (const timer of timers) clearTimeout(timer);
      // Not awaited (as in the inner queue): an UNLISTEN stuck on a dying connection must not hold up shutdown.
      void subscription?.unlisten().catch(() => {});
    }
  }
}
