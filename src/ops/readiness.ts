import { randomBytes } from "node:crypto";
import type { Sql } from "../db/client.ts";
import { pendingMigrations } from "../db/migrate.ts";
import type { MediaStorage } from "../storage/types.ts";

export type CheckResult = { ok: boolean; detail?: string; ms: number };
export type Readiness = {
  ready: boolean;
  checks: { database: CheckResult; migrations: CheckResult; storage: CheckResult; shutdown: CheckResult };
};

const CHECK_TIMEOUT_MS = 3000;

async function timed(run: () => Promise<string | undefined>): Promise<CheckResult> {
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  try {
    const problem = await Promise.race([run(), timeout]);
    return { ok: problem === undefined, ...(problem ? { detail: problem } : {}), ms: Math.round(performance.now() - started) };
  } catch (error) {
    return { ok: false, detail: error instanceof Error ? error.message : String(error), ms: Math.round(performance.now() - started) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Whether this process should receive traffic: the database answers, every migration this build knows is applied
 * (during a rolling upgrade an older process may see newer ones, which is fine), media storage takes a write, and the
 * process is not shutting down. Liveness is separate and checks nothing external, so a database outage makes the
 * proxy stop routing here rather than an orchestrator restart every process.
 */
export function createReadiness(deps: { sql: Sql; storage: MediaStorage }) {
  let draining = false;
  const probeKey = `ops/readyz-${process.pid}-${randomBytes(4).toString("hex")}`;

  async function check(): Promise<Readiness> {
    const [database, migrations, storage] = await Promise.all([
      timed(async () => {
        await deps.sql`SELECT 1`;
        return undefined;
      }),
      timed(async () => {
        const pending = await pendingMigrations(deps.sql);
        return pending.length ? `pending: ${pending.join(", ")}` : undefined;
      }),
      timed(async () => {
        await deps.storage.putBuffer(probeKey, Buffer.from(new Date().toISOString()), "text/plain");
        await deps.storage.delete([probeKey]);
        return undefined;
      }),
    ]);
    const shutdown: CheckResult = draining ? { ok: false, detail: "shutting down", ms: 0 } : { ok: true, ms: 0 };
    const checks = { database, migrations, storage, shutdown };
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }

  return {
    check,
    /** From SIGTERM on, readiness fails so the proxy routes new requests elsewhere while in-flight ones finish. */
    markDraining() {
      draining = true;
    },
  };
}

export type ReadinessProbe = ReturnType<typeof createReadiness>;
