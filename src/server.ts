import "./temporal.ts";
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { getLogger } from "@logtape/logtape";
import type { Config } from "./config/index.ts";
import { openDatabase } from "./db/open.ts";
import { createApp } from "./http/app.ts";
import { createOpsApp } from "./http/ops-app.ts";
import { startCacheSync } from "./ops/cache-sync.ts";
import { startFederationQueue } from "../federation/index.ts";
import { housekeepingJobs } from "./jobs/housekeeping.ts";
import { startJobs } from "./jobs/scheduler.ts";
import { createServices } from "./services.ts";

const log = getLogger(["clawgram", "server"]);

export type RunningServer = {
  url: string;
  port: number;
  /** Port of the operations-only listener (`OPS_PORT`), when there is one. */
  opsPort: number | undefined;
  stop(): Promise<void>;
};

/** Opens the database, builds the app and listens. `stop()` drains in-flight requests, then closes the database. */
export async function startServer(config: Config): Promise<RunningServer> {
  const database = await openDatabase(config);
  const services = createServices(config, database);
  const { app, federation } = createApp(services);
  // Shutdown waits for a job that is running and starts no new one: closing the pool under a job's transaction
  // makes postgres.js throw from inside its connection handling (an unhandled rejection, exit 1).
  const runningJobs = new Set<Promise<unknown>>();
  let stoppingJobs = false;
  // Web processes serve HTTP only; the periodic jobs run where the queue runs (worker, or all-in-one). Each run takes
  // a lease row, so however many such processes there are, a job runs once per interval across the cluster.
  const jobs = startJobs(
    database.sql,
    (config.role === "web" ? [] : housekeepingJobs(services)).map((job) => ({
      ...job,
      run() {
        if (stoppingJobs) return Promise.resolve("skipped: shutting down");
        const run = job.run();
        runningJobs.add(run);
        const forget = () => runningJobs.delete(run);
        run.then(forget, forget);
        return run;
      },
    })),
    { metrics: services.metrics },
  );
  // Several processes on one PostgreSQL: a write in any of them clears every process's hot cache, and settings or
  // domain-policy changes reach every process at once.
  const cacheSync = config.databaseUrl
    ? await startCacheSync({
        sql: database.sql,
        hotCache: services.hotCache,
        metrics: services.metrics,
        policy: { settings: services.instance, domains: services.admin.domains },
      })
    : null;
  // The worker role delivers and processes federation activities; web-only processes just enqueue them.
  const queueAbort = new AbortController();
  const queue =
    config.role === "web"
      ? Promise.resolve()
      : startFederationQueue(federation, services, queueAbort.signal).catch((error) =>
          log.error("Federation queue stopped: {error}", { error }),
        );

  // Once shutting down, every response closes its connection: otherwise a keep-alive connection that finishes its
  // request after the signal sits idle until the keep-alive timeout, holding the shutdown up, and a client reusing
  // it meanwhile would have its next request cut off.
  let draining = false;
  const fetch = async (request: Request, env: unknown): Promise<Response> => {
    const response = await app.fetch(request, env);
    if (!draining) return response;
    try {
      response.headers.set("Connection", "close");
      return response;
    } catch {
      // Immutable headers: copy the response.
      const copy = new Response(response.body, response);
      copy.headers.set("Connection", "close");
      return copy;
    }
  };
  // A worker process runs the federation queue and the jobs, and serves no HTTP.
  const server: ServerType | null =
    config.role === "worker"
      ? null
      : await new Promise((resolve) => {
          const s = serve({ fetch, port: config.port, hostname: config.host }, () => resolve(s));
        });
  const port = server ? (server.address() as AddressInfo).port : 0;
  const opsApp = config.opsPort === undefined ? null : createOpsApp(services);
  const opsServer: ServerType | null = opsApp
    ? await new Promise((resolve) => {
        const s = serve({ fetch: opsApp.fetch, port: config.opsPort, hostname: config.host }, () => resolve(s));
      })
    : null;
  const opsPort = opsServer ? (opsServer.address() as AddressInfo).port : undefined;
  if (opsServer) log.info("Ops endpoints (/livez, /readyz, /metrics) on {host}:{port}", { host: config.host, port: opsPort });
  if (!server) log.info("Clawgram worker started ({db})", { db: database.embedded ? "embedded PGlite" : "PostgreSQL" });
  if (server) log.info("Clawgram listening on {host}:{port} ({db}), public URL {url}", {
    host: config.host,
    port,
    db: database.embedded ? `embedded PGlite in ${config.dataDir}/pg` : "PostgreSQL",
    url: config.publicUrl.href,
  });

  let stopping: Promise<void> | undefined;
  async function stop() {
    stopping ??= (async () => {
      jobs.stop();
      stoppingJobs = true;
      draining = true;
      services.readiness.markDraining();
      // Stop accepting, let in-flight requests finish (bounded), then release the database.
      if (server) {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        if ("closeIdleConnections" in server) server.closeIdleConnections();
        const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), config.shutdownTimeoutMs).unref());
        if ((await Promise.race([closed, timeout])) === "timeout") {
          log.warning("Shutdown timeout: closing remaining connections");
          if ("closeAllConnections" in server) server.closeAllConnections();
        }
      }
      await Promise.allSettled(runningJobs);
      // Event handlers and immediate webhook deliveries still write to the database (each is bounded by its timeout).
      await services.webhooks.settled();
      queueAbort.abort();
      await queue;
      await cacheSync?.stop();
      if (opsServer) {
        if ("closeAllConnections" in opsServer) opsServer.closeAllConnections();
        await new Promise<void>((resolve) => opsServer.close(() => resolve()));
      }
      // Let the queue's LISTEN connection unwind before the pool closes (postgres.js raises otherwise).
      await new Promise((r) => setTimeout(r, 50));
      await database.close();
    })();
    return stopping;
  }
  return { url: `http://127.0.0.1:${port}`, port, opsPort, stop };
}
