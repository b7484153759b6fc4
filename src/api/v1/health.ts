import { z } from "zod";
import { defineRoute, type AnyRoute } from "../../http/route.ts";

const Health = z.object({ status: z.literal("ok") });

export function healthRoutes(): AnyRoute[] {
  return ["/health", "/healthz", "/api/v1/healthz"].map((path, i) =>
    defineRoute({
      method: "get",
      path,
      operationId: ["health", "healthz", "apiHealthz"][i]!,
      summary: "Liveness check",
      tags: ["health"],
      auth: "public",
      publicRead: true,
      response: Health,
      handler: async () => ({ status: "ok" as const }),
    }),
  );
}
