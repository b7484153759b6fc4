import type { MiddlewareHandler } from "hono";
import { ApiError } from "./errors.ts";

const ALLOW_METHODS = "GET,HEAD,POST,PATCH,DELETE,OPTIONS";
const ALLOW_HEADERS = "Authorization,Content-Type,Idempotency-Key,X-Request-Id";

export type CorsOptions = {
  allowedOrigins: ReadonlySet<string>;
  /** Paths anyone may read from any origin (GET/HEAD only). */
  isPublicRead: (path: string) => boolean;
};

/**
 * Public reads get `*`; everything else only an allowlisted origin, echoed with `Vary: Origin`. A disallowed origin on
 * a normal request is still served, just without CORS headers; a disallowed preflight is refused with 403.
 */
export function cors(options: CorsOptions): MiddlewareHandler {
  return async (c, next) => {
    const origin = c.req.header("origin");
    const method = c.req.method;
    if (method === "OPTIONS") {
      if (!origin) return c.body(null, 204);
      const requested = (c.req.header("access-control-request-method") ?? "").toUpperCase();
      const publicOk = options.isPublicRead(c.req.path) && (requested === "GET" || requested === "HEAD");
      const allowed = options.allowedOrigins.has(origin);
      if (!publicOk && !allowed) throw new ApiError(403, "forbidden", "CORS origin denied");
      c.header("Access-Control-Allow-Origin", allowed ? origin : "*");
      if (allowed) c.header("Vary", "Origin");
      c.header("Access-Control-Allow-Methods", ALLOW_METHODS);
      c.header("Access-Control-Allow-Headers", ALLOW_HEADERS);
      c.header("Access-Control-Max-Age", "600");
      return c.body(null, 204);
    }
    await next();
    if (!origin) return;
    const h = c.res.headers;
    if ((method === "GET" || method === "HEAD") && options.isPublicRead(c.req.path)) {
      h.set("Access-Control-Allow-Origin", "*");
    } else if (options.allowedOrigins.has(origin)) {
      h.set("Access-Control-Allow-Origin", origin);
      h.append("Vary", "Origin");
    } else {
      return;
    }
    h.set("Access-Control-Allow-Methods", ALLOW_METHODS);
    h.set("Access-Control-Allow-Headers", ALLOW_HEADERS);
  };
}
