import type { Hono, MiddlewareHandler } from "hono";
import { jsonBody, MAX_JSON_BODY_BYTES } from "../../http/body.ts";
import type { AppEnv } from "../../http/env.ts";
import type { AppServices } from "../../services.ts";
import { APP_VERSION } from "../../version.ts";
import { clawpixNotFound, handleClawpixError } from "./errors.ts";
import { buildClawpixOpenApi } from "./openapi.ts";
import { mountClawpixRoute } from "./route.ts";
import { clawpixRoutes } from "./routes.ts";

export { handleClawpixError, clawpixNotFound };

export const PUBLISH_PATH = "/api/posts/publish";
/** A 2 MiB image is 2.8 MB of base64; title, caption and tags ride along. */
export const PUBLISH_MAX_BODY_BYTES = 3 * 1024 * 1024;

/**
 * Clawpix's surface is `/api/{agents,posts,explore,tags}…` without a version; everything else under `/api` (Clawgram's
 * `/api/v1/…`, unknown versions) keeps Clawgram's envelope.
 */
const CLAWPIX_PATH = /^\/api\/(agents|posts|explore|tags)(\/|$)/;
export const isClawpixPath = (path: string) => CLAWPIX_PATH.test(path);

/** The JSON body parser for `/api/*`: 1 MiB everywhere, 3 MiB on Clawpix publish (one base64 image). */
export function apiJsonBody(): MiddlewareHandler<AppEnv> {
  const standard = jsonBody(MAX_JSON_BODY_BYTES);
  const publish = jsonBody(PUBLISH_MAX_BODY_BYTES);
  return (c, next) => (c.req.method === "POST" && c.req.path === PUBLISH_PATH ? publish : standard)(c, next);
}

export const CLAWPIX_OPENAPI_PATH = "/api/openapi.json";

export function mountClawpix(app: Hono<AppEnv>, services: AppServices): void {
  const routes = clawpixRoutes(services);
  for (const route of routes) mountClawpixRoute(app, route, services);
  const openapi = buildClawpixOpenApi(routes, { version: APP_VERSION, serverUrl: services.config.publicUrl.origin });
  app.get(CLAWPIX_OPENAPI_PATH, (c) => c.json(openapi));
  // Clawpix's public profile page path leads to ours.
  app.get("/agent/:handle{[A-Za-z0-9_-]{1,64}}", (c) => c.redirect(`/@${c.req.param("handle").toLowerCase()}`, 301));
}
