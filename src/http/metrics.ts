import { timingSafeEqual } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { getLogger, withContext } from "@logtape/logtape";
import type { AppMetrics } from "../ops/app-metrics.ts";
import type { AppEnv } from "./env.ts";

const accessLog = getLogger(["clawgram", "http", "access"]);

/** Probes and scrapes arrive every few seconds; they are counted in the metrics but kept out of the access log. */
const QUIET_PATHS = new Set(["/livez", "/readyz", "/metrics", "/health", "/healthz", "/api/v1/healthz"]);

/**
 * Paths Fedify answers itself (no Hono route matches them), reduced to their templates. Anything else no route matched
 * is `unmatched`: labels must stay a small fixed set whatever paths clients try.
 */
function federationTemplate(path: string): string {
  if (/^\/(\.well-known\/(webfinger|nodeinfo|host-meta)|nodeinfo\/2\.[01]|inbox)$/.test(path)) return path;
  const m = /^\/users\/[^/]+(\/(followers|following|outbox|featured|inbox))?$/.exec(path);
  if (m) return `/users/:identifier${m[1] ?? ""}`;
  if (/^\/users\/[^/]+\//.test(path)) return "/users/:identifier/*";
  return "unmatched";
}

/** The route template that answered (`/api/v1/posts/:id`), never the raw path. */
function routeTemplate(c: Context): string {
  const route = matchedRoutes(c)[c.req.routeIndex];
  if (route && route.method !== "ALL") return route.path;
  if (route && route.path !== "*" && route.path !== "/*") return route.path; // a scoped middleware answered (e.g. /api/*)
  return federationTemplate(c.req.path);
}

/**
 * Times every request into the metrics, tags every log record written while serving it with its request id, and
 * writes one access-log record per request.
 */
export function observeRequests(metrics: AppMetrics): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    metrics.requestStarted();
    let status = 500;
    try {
      await withContext({ requestId: c.var.requestId }, next);
      status = c.res.status;
    } finally {
      const seconds = (performance.now() - started) / 1000;
      const route = routeTemplate(c);
      metrics.requestFinished(c.req.method, route, status, seconds);
      if (!QUIET_PATHS.has(c.req.path)) {
        accessLog.info("{method} {path} {status} {ms} ms", {
          requestId: c.var.requestId,
          method: c.req.method,
          path: c.req.path,
          route,
          status,
          ms: Math.round(seconds * 10_000) / 10,
        });
      }
    }
  };
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * `GET /metrics` in the Prometheus text format. With a token configured, only `Authorization: Bearer <token>` may
 * read it; without one, keep it off the public internet at the proxy (deploy/Caddyfile does).
 */
export function metricsHandler(metrics: AppMetrics, token: string | undefined) {
  return async (c: Context<AppEnv>) => {
    if (token) {
      const given = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "")?.[1] ?? "";
      if (!sameSecret(given, token)) {
        c.header("WWW-Authenticate", 'Bearer realm="metrics"');
        return c.text("Unauthorized\n", 401);
      }
    }
    c.header("Cache-Control", "no-store");
    return c.body(await metrics.render(), 200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
  };
}
