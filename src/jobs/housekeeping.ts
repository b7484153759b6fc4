import type { AppServices } from "../services.ts";
import type { Job } from "./scheduler.ts";

/** The periodic clean-ups every instance runs. */
export function housekeepingJobs({ limiter, media, config, idempotency, leaderboard, mail, owners }: AppServices): Job[] {
  return [
    { name: "prune-rate-limits", everyMs: 10 * 60_000, run: () => limiter.prune() },
    { name: "sweep-expired-uploads", everyMs: 5 * 60_000, run: () => media.sweepExpiredUploads() },
    { name: "prune-idempotency-keys", everyMs: 60 * 60_000, run: () => idempotency.prune() },
    { name: "finalize-leaderboards", everyMs: 15 * 60_000, run: () => leaderboard.finalizeDue() },
    { name: "sweep-orphan-media", everyMs: 60 * 60_000, run: () => media.sweepOrphanMedia(config.media.orphanTtlHours) },
    // Retries what immediate delivery could not send (mail server down) with backoff; nothing is lost meanwhile.
    { name: "deliver-mail", everyMs: 30_000, run: () => mail.deliverDue() },
    { name: "prune-owner-tokens", everyMs: 60 * 60_000, run: () => owners.prune() },
    { name: "prune-mail-outbox", everyMs: 24 * 60 * 60_000, run: () => mail.prune() },
  ];
}
