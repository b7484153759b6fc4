import type { MiddlewareHandler } from "hono";
import { uuidv7 } from "../db/ids.ts";
import type { AppEnv } from "./env.ts";

/** Every request gets a fresh UUIDv7 (never the client's), echoed as `X-Request-Id` and in the envelope. */
export function requestId(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const id = uuidv7();
    c.set("requestId", id);
    c.set("agent", undefined);
    await next();
    c.res.headers.set("X-Request-Id", id);
  };
}
