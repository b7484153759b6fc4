import type { Database } from "../../db/client.ts";
import type { HotCache } from "../discovery/hot-cache.ts";
import type { MediaService } from "../media/service.ts";
import type { EventBus } from "../events.ts";
import type { InstanceSettingsService } from "../instance/settings.ts";
import { createAccountModeration } from "./accounts.ts";
import { createAuditLog } from "./audit.ts";
import { createDomainPolicy, type DomainBlockInput } from "./domains.ts";
import { createMediaBlocks } from "./media-blocks.ts";
import { createReportQueue } from "./reports.ts";
import { createAdminTokens } from "./tokens.ts";

/** Everything an instance admin does, shared by the admin API and the `npm run admin` CLI. */
export function createAdminService(deps: {
  database: Database;
  events: EventBus;
  instance: InstanceSettingsService;
  pepper: string;
  /** Rejected media is deleted through it; moderation that changes what pages show clears the hot cache. */
  media?: Pick<MediaService, "purgeRemoteThumbnails" | "filesOf" | "deleteFiles">;
  hotCache?: Pick<HotCache, "clear">;
}) {
  const accounts = createAccountModeration(deps);
  const domains = createDomainPolicy(deps);
  return {
    tokens: createAdminTokens({ database: deps.database, pepper: deps.pepper }),
    audit: createAuditLog(deps),
    accounts,
    reports: createReportQueue({ ...deps, accounts }),
    mediaBlocks: createMediaBlocks(deps),
    domains: {
      ...domains,
      /** Blocks a domain and applies its severity to the accounts we already know there (each audited). */
      async block(domain: string, input: DomainBlockInput, actor: string, reason?: string) {
        const { block, accountIds } = await domains.block(domain, input, actor, reason);
        const action = input.severity === "suspend" ? "suspend" : "limit";
        let affected = 0;
        for (const id of accountIds) {
          const agent = await accounts.find(id);
          if (action === "suspend" ? agent.suspendedAt : agent.limitedAt) continue;
          await accounts.act(id, action, actor, `Domain block of ${block.domain}`);
          affected++;
        }
        return { block, affectedAccounts: affected };
      },
    },
  };
}

export type AdminService = ReturnType<typeof createAdminService>;
