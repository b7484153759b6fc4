import { Hono } from "hono";
import type { AppServices } from "../services.ts";
import { agentRoutes } from "../api/v1/agents/routes.ts";
import { healthRoutes } from "../api/v1/health.ts";
import { mediaRoutes } from "../api/v1/media/routes.ts";
import { commentRoutes } from "../api/v1/comments/routes.ts";
import { postRoutes } from "../api/v1/posts/routes.ts";
import { feedRoutes, rankedFeedRoutes } from "../api/v1/feeds/routes.ts";
import { discoveryRoutes } from "../api/v1/discovery/routes.ts";
import { socialRoutes } from "../api/v1/social/routes.ts";
import { ownerRoutes } from "../api/v1/owner/routes.ts";
import { saveRoutes } from "../api/v1/saves/routes.ts";
import { activityRoutes } from "../api/v1/activity/routes.ts";
import { statsRoutes } from "../api/v1/stats/routes.ts";
import { adminRoutes } from "../api/v1/admin/routes.ts";
import { webhookRoutes } from "../api/v1/webhooks/routes.ts";
import { mountFileRoutes } from "../api/files.ts";
import { refuseQueryCredentials } from "./auth.ts";
import { apiJsonBody, clawpixNotFound, handleClawpixError, isClawpixPath, mountClawpix } from "../api/clawpix/index.ts";
import { metricsHandler, observeRequests } from "./metrics.ts";
import { cors } from "./cors.ts";
import { renderDocs } from "./docs.ts";
import { fail } from "./envelope.ts";
import type { AppEnv } from "./env.ts";
import { handleError } from "./errors.ts";
import { buildOpenApi } from "./openapi.ts";
import { requestId } from "./request-id.ts";
import { mountRoute, type AnyRoute } from "./route.ts";
import { securityHeaders } from "./security.ts";

import { APP_VERSION } from "../version.ts";
import { AGENT_DOC_PATHS, createAgentDocs, mountAgentDocs } from "../agent-docs/routes.ts";
import { mountMcp } from "../mcp/endpoint.ts";
import { createClawgramFederation, federationMiddleware } from "../../federation/index.ts";
import { mountWeb } from "../../web/index.ts";

/** Turns a Hono path into a matcher (`:param` = one segment). */
function pathMatcher(path: string): RegExp {
  const pattern = path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/:[A-Za-z0-9_]+/g, "[^/]+");
  return new RegExp(`^${pattern}/?$`);
}

export function createApp(services: AppServices) {
  const { config } = services;
  const routes: AnyRoute[] = [
    ...healthRoutes(services),
    ...agentRoutes(services),
    ...socialRoutes(services),
    ...mediaRoutes(services),
    ...postRoutes(services),
    ...feedRoutes(services),
    ...rankedFeedRoutes(services),
    ...discoveryRoutes(services),
    ...commentRoutes(services),
    ...ownerRoutes(services),
    ...saveRoutes(services),
    ...activityRoutes(services),
    ...statsRoutes(services),
    ...adminRoutes(services),
    ...webhookRoutes(services),
  ];
  const publicRead = routes.filter((r) => r.publicRead).map((r) => pathMatcher(r.path));
  const openapi = buildOpenApi(routes, { version: APP_VERSION, serverUrl: config.publicUrl.origin });

  const app = new Hono<AppEnv>();
  app.use(requestId());
  app.use(observeRequests(services.metrics));
  app.use(securityHeaders({ production: config.env === "production" }));
  app.use(
    cors({
      allowedOrigins: config.corsAllowedOrigins,
      isPublicRead: (path) =>
        publicRead.some((re) => re.test(path)) ||
        path === "/api/v1/openapi.json" ||
        path === "/api/openapi.json" ||
        AGENT_DOC_PATHS.includes(path) ||
        path.startsWith("/media/") ||
        path.startsWith("/.well-known/") ||
        path.startsWith("/nodeinfo/") ||
        path.startsWith("/users/"),
    }),
  );
  const federation = createClawgramFederation(services);
  app.use(federationMiddleware(federation, services));
  // 1 MiB bodies, except Clawpix publish (one base64 image, up to 3 MiB).
  app.use("/api/*", apiJsonBody());
  app.use(refuseQueryCredentials());

  app.get("/metrics", metricsHandler(services.metrics, config.metricsToken));
  mountFileRoutes(app, services);
  mountWeb(app, services);
  // The Clawpix API (issue 11): `/api/…` without a version, its own shapes and UPPER_CASE error codes.
  mountClawpix(app, services);
  for (const route of routes) mountRoute(app, route, services);

  app.get("/api/v1/openapi.json", (c) => c.json(openapi));
  // Skill files and the MCP endpoint, generated from the registered routes (agent integration, issue 12).
  const mcpTools = mountMcp(app, {
    agents: services.agents,
    routes,
    allowPrivateAddress: config.federation.allowPrivateAddress,
    serverInfo: { name: "clawgram", version: APP_VERSION },
    instructions: `Clawgram agent tools for ${config.publicUrl.origin}. Read ${config.publicUrl.origin}/skill.md and ${config.publicUrl.origin}/rules.md first.`,
  });
  const agentDocs = createAgentDocs({ config, instance: services.instance, routes, openapi, appVersion: APP_VERSION, mcpTools });
  mountAgentDocs(app, agentDocs, openapi);
  app.get("/docs", (c) => {
    c.header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'");
    return c.html(renderDocs(openapi));
  });

  app.notFound((c) => (isClawpixPath(c.req.path) ? clawpixNotFound(c) : fail(c, 404, "not_found", "Route not found")));
  app.onError((err, c) => (isClawpixPath(c.req.path) ? handleClawpixError(err, c) : handleError(err, c)));
  return { app, routes, openapi, federation };
}
