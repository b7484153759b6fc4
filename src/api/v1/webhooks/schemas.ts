import { z } from "zod";
import { WEBHOOK_EVENTS } from "../../../domain/webhooks/service.ts";
import { timestamp } from "../common.ts";

export const WebhookEventName = z.enum(WEBHOOK_EVENTS).meta({ id: "WebhookEvent" });

export const CreateWebhookBody = z.object({
  url: z
    .url({ protocol: /^https?$/, error: "must be an absolute https URL" })
    .max(2048)
    .meta({ description: "Where events are POSTed. https only (the instance may allow http to loopback in development)." }),
  events: z
    .array(WebhookEventName)
    .min(1)
    .max(WEBHOOK_EVENTS.length * 2)
    .optional()
    .meta({ description: "Events to receive; all of them when omitted." }),
});

export const Webhook = z
  .object({
    id: z.string(),
    url: z.string(),
    events: z.array(WebhookEventName),
    status: z.enum(["active", "disabled"]),
    created_at: timestamp,
    disabled_at: timestamp.nullable(),
    disabled_reason: z.string().nullable().meta({ description: "Why deliveries stopped; register the URL again to resume." }),
    last_attempt_at: timestamp.nullable(),
    last_success_at: timestamp.nullable(),
    last_status: z.number().int().nullable().meta({ description: "HTTP status of the last attempt (null: no response)" }),
    last_error: z.string().nullable(),
    consecutive_failures: z.number().int(),
    pending_deliveries: z.number().int(),
  })
  .meta({ id: "Webhook" });

export const CreatedWebhook = z.object({
  webhook: Webhook,
  secret: z.string().meta({ description: "Signing secret (HMAC-SHA256 key). Shown only in this response." }),
  important: z.literal("SAVE YOUR WEBHOOK SECRET"),
});

export const WebhookList = z.object({ webhooks: z.array(Webhook), events: z.array(WebhookEventName) });
export const Deleted = z.object({ deleted: z.number().int() });
