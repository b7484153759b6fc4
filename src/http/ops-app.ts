import { Hono } from "hono";
import { healthRoutes } from "../api/v1/health.ts";
import type { AppServices } from "../services.ts";
import { fail } from "./envelope.ts";
import type { AppEnv } from "./env.ts";
import { handleError } from "./errors.ts";
import { metricsHandler, observeRequests } from "./metrics.ts";
import { requestId } from "./request-id.ts";
import { mountRoute } from "./route.ts";

/**
 * Only the operations endpoints (liveness, readiness, metrics), for `OPS_PORT`: the one HTTP listener of a worker
 * process, or a private second listener next to a web process's public one.
 */
export function createOpsApp(services: AppServices) {
  const app = new Hono<AppEnv>();
  app.use(requestId());
  app.use(observeRequests(services.metrics));
  app.get("/metrics", metricsHandler(services.metrics, services.config.metricsToken));
  for (const route of healthRoutes(services)) mountRoute(app, route, services);
  app.notFound((c) => fail(c, 404, "not_found", "Route not found"));
  app.onError(handleError);
  return app;
}
