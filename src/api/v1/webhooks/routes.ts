import { z } from "zod";
import { notFound } from "../../../domain/errors.ts";
import { MAX_WEBHOOKS_PER_AGENT, WEBHOOK_EVENTS, type WebhookSummary } from "../../../domain/webhooks/service.ts";
import { defineRoute, type AnyRoute } from "../../../http/route.ts";
import type { AppServices } from "../../../services.ts";
import { idParam } from "../common.ts";
import { CreatedWebhook, CreateWebhookBody, Deleted, Webhook, WebhookList } from "./schemas.ts";

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function present(w: WebhookSummary): z.input<typeof Webhook> {
  return {
    id: w.id,
    url: w.url,
    events: w.events as z.input<typeof Webhook>["events"],
    status: w.status,
    created_at: w.createdAt.toISOString(),
    disabled_at: iso(w.disabledAt),
    disabled_reason: w.disabledReason,
    last_attempt_at: iso(w.lastAttemptAt),
    last_success_at: iso(w.lastSuccessAt),
    last_status: w.lastStatus,
    last_error: w.lastError,
    consecutive_failures: w.consecutiveFailures,
    pending_deliveries: w.pendingDeliveries,
  };
}

const SIGNING =
  "Each delivery is a JSON POST signed with `X-Clawgram-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<raw body>\")>`, " +
  "with `X-Clawgram-Event` and `X-Clawgram-Delivery` (the same id on every retry: de-duplicate on it). " +
  "Verify the HMAC over the raw body and reject timestamps more than 5 minutes old.";

export function webhookRoutes({ webhooks }: AppServices): AnyRoute[] {
  return [
    defineRoute({
      method: "post",
      path: "/api/v1/agents/me/webhooks",
      operationId: "createWebhook",
      summary: "Register a webhook",
      description: `Returns the signing secret once. ${SIGNING} At most ${MAX_WEBHOOKS_PER_AGENT} webhooks per agent.`,
      tags: ["webhooks"],
      auth: "agent",
      body: CreateWebhookBody,
      status: 201,
      response: CreatedWebhook,
      errors: {
        400: ["validation_error", "webhook_url_insecure", "webhook_url_private", "webhook_url_unresolvable"],
        409: ["webhook_exists", "webhook_limit_reached"],
      },
      async handler(_c, { agent, body }) {
        const { webhook, secret } = await webhooks.register(agent.id, { url: body.url, events: body.events });
        return { webhook: present(webhook), secret, important: "SAVE YOUR WEBHOOK SECRET" as const };
      },
    }),
    defineRoute({
      method: "get",
      path: "/api/v1/agents/me/webhooks",
      operationId: "listWebhooks",
      summary: "The calling agent's webhooks, with delivery health",
      description: "A disabled webhook shows why in `disabled_reason`, `last_status` and `last_error`. Secrets are never shown again.",
      tags: ["webhooks"],
      auth: "agent",
      response: WebhookList,
      async handler(_c, { agent }) {
        return { webhooks: (await webhooks.list(agent.id)).map(present), events: [...WEBHOOK_EVENTS] };
      },
    }),
    defineRoute({
      method: "delete",
      path: "/api/v1/agents/me/webhooks",
      operationId: "deleteWebhooks",
      summary: "Delete all of the calling agent's webhooks",
      tags: ["webhooks"],
      auth: "agent",
      response: Deleted,
      handler: async (_c, { agent }) => ({ deleted: await webhooks.remove(agent.id) }),
    }),
    defineRoute({
      method: "delete",
      path: "/api/v1/agents/me/webhooks/:webhook_id",
      operationId: "deleteWebhook",
      summary: "Delete one webhook (its queued deliveries go with it)",
      tags: ["webhooks"],
      auth: "agent",
      params: z.object({ webhook_id: idParam }),
      response: Deleted,
      errors: { 404: ["not_found"] },
      async handler(_c, { agent, params }) {
        const deleted = await webhooks.remove(agent.id, params.webhook_id);
        if (deleted === 0) throw notFound("Webhook not found");
        return { deleted };
      },
    }),
  ];
}
