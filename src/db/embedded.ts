import { mkdir, open, readFile, rm } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { pg_trgm } from "@electric-sql/pglite/contrib/pg_trgm";
import { PGLiteSocketHandler, type PGLiteSocketHandlerOptions } from "@electric-sql/pglite-socket";

export type EmbeddedPostgres = {
  /** A postgres:// URL on loopback for postgres.js (and Fedify's stores) to connect to. */
  url: string;
  /** The whole data directory as a tarball (e.g. a migrated template for tests). */
  snapshot(): Promise<Blob>;
  stop(): Promise<void>;
};

type QueueItem = {
  handlerId: number;
  message: Uint8Array;
  onData: (data: Uint8Array) => void;
  resolve: (bytes: number) => void;
  reject: (error: unknown) => void;
  /** Internal: clean up after a connection that went away while it owned the session. */
  reset?: true;
};

const SYNC = Uint8Array.of(0x53, 0, 0, 0, 4);
/** Frontend messages after which the backend answers ReadyForQuery: Sync, Query, FunctionCall, Terminate. */
const ENDS_EXCHANGE = new Set([0x53, 0x51, 0x46, 0x58]);

/**
 * PGlite is a single PostgreSQL session; several client connections share it. The socket package's own queue hands
 * that session to whichever connection's next *message* is first, so two connections' extended-protocol exchanges
 * (Parse/Bind/Execute/Sync) interleave and clobber each other's unnamed statement and portal ("portal does not
 * exist", or rows of the wrong query), and one internal throw stalls it for good (electric-sql/pglite#1046). This
 * queue gives the session to one connection from its first message until the backend is idle again: the exchange
 * ended (Sync/Query) and no transaction is open.
 */
class SessionQueue {
  readonly #db: PGlite;
  #queue: QueueItem[] = [];
  #running = false;
  #owner: number | null = null;

  constructor(db: PGlite) {
    this.#db = db;
  }

  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ handlerId, message, onData, resolve, reject });
      void this.#run();
    });
  }

  async #run(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      for (;;) {
        const index = this.#owner === null ? 0 : this.#queue.findIndex((item) => item.handlerId === this.#owner);
        // Nothing queued, or the owner's next message has not arrived yet: wait for the next enqueue.
        if (index < 0 || index >= this.#queue.length) break;
        const [item] = this.#queue.splice(index, 1) as [QueueItem];
        if (item.reset) {
          await this.#release(item);
          continue;
        }
        let bytes = 0;
        try {
          await this.#db.runExclusive(() =>
            this.#db.execProtocolRawStream(item.message, {
              onRawData: (data) => {
                bytes += data.length;
                item.onData(data);
              },
            }),
          );
        } catch (error) {
          item.reject(error);
          continue;
        }
        // A start-up message has no type byte (it begins with its length, whose first byte is 0).
        const type = item.message[0]!;
        const exchangeOver = type === 0 || ENDS_EXCHANGE.has(type);
        this.#owner = exchangeOver && !this.#db.isInTransaction() ? null : item.handlerId;
        item.resolve(bytes);
      }
    } finally {
      this.#running = false;
    }
  }

  /** Ends a vanished owner's half-done exchange and transaction so the next connection starts from a clean session. */
  async #release(item: QueueItem): Promise<void> {
    try {
      if (this.#owner === item.handlerId) {
        await this.#db.runExclusive(() => this.#db.execProtocolRawStream(SYNC, { onRawData: () => {} }));
        if (this.#db.isInTransaction()) await this.#db.exec("ROLLBACK");
      }
    } catch {
      // The session is reset as far as it can be; nothing else to do for a connection that is gone.
    } finally {
      if (this.#owner === item.handlerId) this.#owner = null;
      item.resolve(0);
    }
  }

  getQueueLength(): number {
    return this.#queue.length;
  }

  clearQueueForHandler(handlerId: number): void {
    this.#queue = this.#queue.filter((item) => {
      if (item.handlerId !== handlerId || item.reset) return true;
      item.reject(new Error("Handler disconnected"));
      return false;
    });
  }

  clearTransactionIfNeeded(handlerId: number): Promise<void> {
    return new Promise((resolve) => {
      this.#queue.push({ handlerId, message: SYNC, onData: () => {}, resolve: () => resolve(), reject: () => resolve(), reset: true });
      void this.#run();
    });
  }
}

/**
 * Refuses a data directory another live process is using: two PGlite instances on one directory each keep their own
 * buffers and WAL position, and corrupt it (PostgreSQL itself guards this with postmaster.pid). A lock left by a
 * process that no longer runs is taken over.
 */
const lockedHere = new Set<string>();

async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  if (lockedHere.has(dataDir)) throw new Error(`The embedded database in ${dataDir} is already open in this process.`);
  // Beside the directory, not in it: PGlite's initdb wants the directory to itself.
  const lockPath = `${dataDir}.lock`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(lockPath, "wx");
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      lockedHere.add(dataDir);
      return async () => {
        lockedHere.delete(dataDir);
        await rm(lockPath, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    // Our own pid in a lock this process does not hold is a leftover of an earlier life (pid 1 in a container).
    const pid = Number.parseInt(await readFile(lockPath, "utf8").catch(() => ""), 10);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isRunning(pid)) {
      throw new Error(
        `The embedded database in ${dataDir} is in use by process ${pid}. Stop that process first, or point DATABASE_URL at a PostgreSQL server.`,
      );
    }
    await rm(lockPath, { force: true });
  }
  throw new Error(`Could not lock the embedded database in ${dataDir} (${lockPath})`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Starts PGlite (PostgreSQL compiled to WASM) with a loopback socket in front, so the rest of the server talks to it
 * exactly as to a real PostgreSQL. `dataDir` undefined means in-memory (tests). Several connections may be open;
 * PGlite runs one statement at a time and the queue above keeps each connection's exchanges and transactions whole.
 */
export async function startEmbeddedPostgres(options: {
  dataDir?: string;
  maxConnections?: number;
  /** A data directory snapshot (from `snapshot()`) to start from instead of an empty cluster. */
  loadDataDir?: Blob;
}): Promise<EmbeddedPostgres> {
  let dataDir: string | undefined;
  let unlock = async () => {};
  if (options.dataDir) {
    dataDir = path.resolve(options.dataDir);
    await mkdir(dataDir, { recursive: true });
    unlock = await lockDataDir(dataDir);
  }
  let db: PGlite;
  try {
    db = await PGlite.create({ dataDir, extensions: { pg_trgm }, ...(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {}) });
  } catch (error) {
    await unlock();
    throw error;
  }
  const queue = new SessionQueue(db);
  const maxConnections = options.maxConnections ?? 32;
  const handlers = new Set<PGLiteSocketHandler>();
  const server = createServer((socket) => {
    if (handlers.size >= maxConnections) {
      socket.end("Too many connections\n");
      return;
    }
    const handler = new PGLiteSocketHandler({
      // The handler only calls enqueue / clearQueueForHandler / clearTransactionIfNeeded / getQueueLength.
      queryQueue: queue as unknown as PGLiteSocketHandlerOptions["queryQueue"],
      closeOnDetach: true,
    });
    handlers.add(handler);
    const forget = () => handlers.delete(handler);
    handler.addEventListener("close", forget);
    handler.addEventListener("error", forget);
    handler.attach(socket).catch(() => {
      forget();
      socket.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    snapshot: () => db.dumpDataDir("none"),
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...handlers].map((handler) => handler.detach(true)));
      handlers.clear();
      await closed;
      await db.close();
      await unlock();
    },
  };
}
