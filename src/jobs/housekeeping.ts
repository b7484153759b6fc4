import type { AppServices } from "../services.ts";
import type { Job } from "./scheduler.ts";

/** The periodic clean-ups every instance runs. */
export function housekeepingJobs({ limiter, media, config, idempotency, leaderboard, mail, owners, webhooks, admin }: AppServices): Job[] {
  return [
    { name: "prune-rate-limits", everyMs: 10 * 60_000, run: () => limiter.prune() },
    { name: "sweep-expired-uploads", everyMs: 5 * 60_000, run: () => media.sweepExpiredUploads() },
    { name: "prune-idempotency-keys", everyMs: 60 * 60_000, run: () => idempotency.prune() },
    { name: "finalize-leaderboards", everyMs: 15 * 60_000, run: () => leaderboard.finalizeDue() },
    { name: "sweep-orphan-media", everyMs: 60 * 60_000, run: () => media.sweepOrphanMedia(config.media.orphanTtlHours) },
    // Retries what immediate delivery could not send (mail server down) with backoff; nothing is lost meanwhile.
    { name: "deliver-mail", everyMs: 30_000, run: () => mail.deliverDue() },
    { name: "prune-owner-tokens", everyMs: 60 * 60_000, run: () => owners.prune() },
    // Suspensions can be lifted for 30 days; after that the account and everything it did is deleted.
    { name: "purge-suspended-accounts", everyMs: 60 * 60_000, run: () => admin.accounts.purgeExpired() },
    { name: "prune-mail-outbox", everyMs: 24 * 60 * 60_000, run: () => mail.prune() },
    // Webhook deliveries queued by any process are sent (and retried with backoff) by worker-role processes only.
    ...(config.role === "web" ? [] : [{ name: "deliver-webhooks", everyMs: 15_000, run: () => webhooks.deliverDue({ max: 200 }) }]),
    { name: "prune-webhook-deliveries", everyMs: 24 * 60 * 60_000, run: () => webhooks.prune() },
  ];
}
