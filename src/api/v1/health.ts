import { getLogger } from "@logtape/logtape";
import { z } from "zod";
import { defineRoute, type AnyRoute } from "../../http/route.ts";
import { ApiError } from "../../http/errors.ts";
import type { AppServices } from "../../services.ts";

const log = getLogger(["clawgram", "ops", "readiness"]);

const Health = z.object({ status: z.literal("ok") });
const Check = z.object({ ok: z.boolean(), ms: z.number() });
const Ready = z.object({
  status: z.literal("ready"),
  checks: z.object({ database: Check, migrations: Check, storage: Check, shutdown: Check }),
});

export function healthRoutes({ readiness }: Pick<AppServices, "readiness">): AnyRoute[] {
  const liveness = ["/health", "/healthz", "/api/v1/healthz", "/livez"].map((path, i) =>
    defineRoute({
      method: "get",
      path,
      operationId: ["health", "healthz", "apiHealthz", "livez"][i]!,
      summary: "Liveness check",
      description: "Answers while the process serves HTTP; checks nothing external (see /readyz).",
      tags: ["health"],
      auth: "public",
      publicRead: true,
      response: Health,
      handler: async () => ({ status: "ok" as const }),
    }),
  );
  const ready = defineRoute({
    method: "get",
    path: "/readyz",
    operationId: "readyz",
    summary: "Readiness check",
    description:
      "200 when the database answers, every migration is applied, media storage takes a write and the process is not " +
      "shutting down; otherwise 503 `not_ready` with the failed checks in `hint`.",
    tags: ["health"],
    auth: "public",
    response: Ready,
    errors: { 503: ["not_ready"] },
    handler: async (c) => {
      c.header("Cache-Control", "no-store");
      const result = await readiness.check();
      if (!result.ready) {
        // Names only: the details (addresses, driver errors) go to the log, not to whoever can reach the probe.
        const failed = Object.entries(result.checks).filter(([, check]) => !check.ok);
        log.warning("Not ready: {failed}", { failed: Object.fromEntries(failed.map(([name, check]) => [name, check.detail])) });
        throw new ApiError(503, "not_ready", "Not ready", `Failing checks: ${failed.map(([name]) => name).join(", ")}`);
      }
      return { status: "ready" as const, checks: result.checks };
    },
  });
  return [...liveness, ready];
}
