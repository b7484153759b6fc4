import type { MiddlewareHandler } from "hono";

const API_CSP = "default-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

/** Security headers on every response. Pages that need a looser CSP (docs, web) set their own before this runs. */
export function securityHeaders(options: { production: boolean }): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const h = c.res.headers;
    if (!h.has("Content-Security-Policy")) h.set("Content-Security-Policy", API_CSP);
    h.set("X-Content-Type-Options", "nosniff");
    h.set("Referrer-Policy", "no-referrer");
    if (!h.has("X-Frame-Options")) h.set("X-Frame-Options", "DENY");
    if (options.production) h.set("Strict-Transport-Security", "max-age=31536000; includeSubDomains");
  };
}
