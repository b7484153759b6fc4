import { z } from "zod";
import type { AppServices } from "../../../services.ts";
import { defineRoute, type AnyRoute } from "../../../http/route.ts";
import { accountView, auditView, domainBlockView, mediaBlockView, reportGroupView, settingsPatch, settingsView, tokenView } from "./present.ts";
import {
  AccountActionBody,
  AccountParams,
  AccountView,
  AuditEntryView,
  DomainBlockBody,
  DomainBlockView,
  DomainParams,
  ForwardBody,
  HashParams,
  InstanceSettingsView,
  ListAccountsQuery,
  ListAuditQuery,
  ListReportsQuery,
  MediaBlockBody,
  MediaBlockView,
  PostIdParams,
  ReasonQuery,
  ReportGroupView,
  ResolveBody,
  SettingsPatchBody,
  TokenView,
} from "./schemas.ts";

const tags = ["admin"];
const AUTH = { 401: ["invalid_admin_token"] };
const decode = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

/**
 * The admin API (`/api/v1/admin/*`): instance settings, the reports queue, account actions, federation policy and the
 * audit log. Every route needs an admin token (`npm run admin -- token create <name>`); every change is audited with
 * the token's name as the actor.
 */
export function adminRoutes({ admin, instance }: AppServices): AnyRoute[] {
  return [
    defineRoute({
      method: "get",
      path: "/api/v1/admin/settings",
      operationId: "adminGetSettings",
      summary: "Instance settings",
      tags,
      auth: "admin",
      response: InstanceSettingsView,
      errors: AUTH,
      handler: async () => settingsView(await instance.get()),
    }),
    defineRoute({
      method: "patch",
      path: "/api/v1/admin/settings",
      operationId: "adminUpdateSettings",
      summary: "Change instance settings",
      description: "Absent fields stay as they are. Served in NodeInfo metadata and on /about.",
      tags,
      auth: "admin",
      body: SettingsPatchBody,
      response: InstanceSettingsView,
      errors: AUTH,
      async handler(_c, { body, admin: who }) {
        const { reason, ...fields } = body;
        return settingsView(await instance.update(settingsPatch(fields), who.actor, reason));
      },
    }),
    defineRoute({
      method: "get",
      path: "/api/v1/admin/audit",
      operationId: "adminAuditLog",
      summary: "Audit log, newest first",
      description: "Page with `before` = the id of the last entry seen.",
      tags,
      auth: "admin",
      query: ListAuditQuery,
      response: z.object({ entries: z.array(AuditEntryView) }),
      errors: AUTH,
      handler: async (_c, { query }) => ({
        entries: (await admin.audit.list({ limit: query.limit, before: query.before, action: query.action, targetId: query.target })).map(auditView),
      }),
    }),
    defineRoute({
      method: "get",
      path: "/api/v1/admin/reports",
      operationId: "adminListReports",
      summary: "Open reports, grouped by post, highest score first",
      description: "`origin=remote` lists reports that came from the fediverse (Flag activities).",
      tags,
      auth: "admin",
      query: ListReportsQuery,
      response: z.object({ groups: z.array(ReportGroupView) }),
      errors: AUTH,
      handler: async (_c, { query }) => ({ groups: (await admin.reports.list(query)).map(reportGroupView) }),
    }),
    defineRoute({
      method: "post",
      path: "/api/v1/admin/reports/:post_id/resolve",
      operationId: "adminResolveReports",
      summary: "Resolve every open report on a post",
      description:
        "dismiss, mark_sensitive, delete_post, or act on the author: suspend_account, limit_account, force_sensitive_account. " +
        "`block_media: true` also blocks the post's images by content hash (`blocked_hashes`: the ones newly blocked).",
      tags,
      auth: "admin",
      params: PostIdParams,
      body: ResolveBody,
      response: z.object({
        post_id: z.string(),
        outcome: z.string(),
        report_ids: z.array(z.string()),
        forwarded_to: z.string().optional(),
        blocked_hashes: z.array(z.string()).optional(),
      }),
      errors: { ...AUTH, 404: ["not_found"], 400: ["not_remote"] },
      async handler(_c, { params, body, admin: who }) {
        const forwarded = body.forward ? await admin.reports.forward(params.post_id, who.actor, body.reason) : undefined;
        const r = await admin.reports.resolve(params.post_id, body.action, who.actor, body.reason, { blockMedia: body.block_media });
        return {
          post_id: r.postId,
          outcome: r.outcome,
          report_ids: r.reportIds,
          ...(forwarded ? { forwarded_to: forwarded.to } : {}),
          ...(r.blockedHashes ? { blocked_hashes: r.blockedHashes } : {}),
        };
      },
    }),
    defineRoute({
      method: "post",
      path: "/api/v1/admin/reports/:post_id/forward",
      operationId: "adminForwardReports",
      summary: "Send the reports on a fediverse post to its server as a Flag",
      tags,
      auth: "admin",
      params: PostIdParams,
      body: ForwardBody,
      response: z.object({ post_id: z.string(), report_ids: z.array(z.string()), forwarded_to: z.string() }),
      errors: { ...AUTH, 404: ["not_found"], 400: ["not_remote"] },
      async handler(_c, { params, body, admin: who }) {
        const r = await admin.reports.forward(params.post_id, who.actor, body?.comment);
        return { post_id: r.postId, report_ids: r.reportIds, forwarded_to: r.to };
      },
    }),
    defineRoute({
      method: "get",
      path: "/api/v1/admin/accounts",
      operationId: "adminListAccounts",
      summary: "Accounts, local and remote, filtered by moderation state",
      tags,
      auth: "admin",
      query: ListAccountsQuery,
      response: z.object({ accounts: z.array(AccountView) }),
      errors: AUTH,
      handler: async (_c, { query }) => ({ accounts: (await admin.accounts.list(query)).map(accountView) }),
    }),
    defineRoute({
      method: "get",
      path: "/api/v1/admin/accounts/:account",
      operationId: "adminGetAccount",
      summary: "One account by id, name or user@host",
      tags,
      auth: "admin",
      params: AccountParams,
      response: AccountView,
      errors: { ...AUTH, 404: ["not_found"] },
      handler: async (_c, { params }) => accountView(await admin.accounts.find(decode(params.account))),
    }),
    defineRoute({
      method: "post",
      path: "/api/v1/admin/accounts/:account/actions",
      operationId: "adminAccountAction",
      summary: "Suspend, limit, force-sensitive, approve or purge an account (and undo)",
      description: "Suspension is reversible for 30 days, then the account is purged. Purging a local account needs a suspension first.",
      tags,
      auth: "admin",
      params: AccountParams,
      body: AccountActionBody,
      response: z.object({ account: AccountView.nullable(), purged: z.boolean() }),
      errors: { ...AUTH, 404: ["not_found"], 409: ["already_suspended", "not_suspended", "not_pending"] },
      async handler(_c, { params, body, admin: who }) {
        const target = await admin.accounts.find(decode(params.account));
        const updated = await admin.accounts.act(target.id, body.action, who.actor, body.reason);
        return { account: updated ? accountView(updated) : null, purged: body.action === "purge" };
      },
    }),
    defineRoute({
      method: "get",
      path: "/api/v1/admin/domain-blocks",
      operationId: "adminListDomainBlocks",
      summary: "Blocked domains",
      tags,
      auth: "admin",
      response: z.object({ blocks: z.array(DomainBlockView), allowlist_mode: z.boolean(), allowed: z.array(z.string()) }),
      errors: AUTH,
      handler: async () => ({
        blocks: (await admin.domains.listBlocks()).map(domainBlockView),
        allowlist_mode: (await instance.get()).allowlistMode,
        allowed: (await admin.domains.listAllows()).map((a) => a.domain),
      }),
    }),
    defineRoute({
      method: "put",
      path: "/api/v1/admin/domain-blocks/:domain",
      operationId: "adminBlockDomain",
      summary: "Block a domain (or change its block)",
      description: "suspend: nothing is delivered there and its activities are refused; limit: its accounts are hidden from discovery; noop: flags only.",
      tags,
      auth: "admin",
      params: DomainParams,
      body: DomainBlockBody,
      response: z.object({ block: DomainBlockView, affected_accounts: z.number() }),
      errors: AUTH,
      async handler(_c, { params, body, admin: who }) {
        const { block, affectedAccounts } = await admin.domains.block(
          decode(params.domain),
          {
            severity: body.severity,
            rejectMedia: body.reject_media,
            rejectReports: body.reject_reports,
            publicComment: body.public_comment,
            privateComment: body.private_comment,
          },
          who.actor,
          body.reason,
        );
        return { block: domainBlockView(block), affected_accounts: affectedAccounts };
      },
    }),
    defineRoute({
      method: "delete",
      path: "/api/v1/admin/domain-blocks/:domain",
      operationId: "adminUnblockDomain",
      summary: "Lift a domain block",
      description: "Accounts suspended or limited by the block stay so until lifted one by one.",
      tags,
      auth: "admin",
      params: DomainParams,
      query: ReasonQuery,
      response: DomainBlockView,
      errors: { ...AUTH, 404: ["not_found"] },
      handler: async (_c, { params, query, admin: who }) => domainBlockView(await admin.domains.unblock(decode(params.domain), who.actor, query.reason)),
    }),
    defineRoute({
      method: "put",
      path: "/api/v1/admin/domain-allows/:domain",
      operationId: "adminAllowDomain",
      summary: "Add a domain to the allow list (used in allow-list mode)",
      tags,
      auth: "admin",
      params: DomainParams,
      query: ReasonQuery,
      response: z.object({ domain: z.string() }),
      errors: AUTH,
      handler: async (_c, { params, query, admin: who }) => admin.domains.allow(decode(params.domain), who.actor, query.reason),
    }),
    defineRoute({
      method: "delete",
      path: "/api/v1/admin/domain-allows/:domain",
      operationId: "adminDisallowDomain",
      summary: "Remove a domain from the allow list",
      tags,
      auth: "admin",
      params: DomainParams,
      query: ReasonQuery,
      response: z.object({ domain: z.string() }),
      errors: { ...AUTH, 404: ["not_found"] },
      handler: async (_c, { params, query, admin: who }) => admin.domains.disallow(decode(params.domain), who.actor, query.reason),
    }),
    defineRoute({
      method: "get",
      path: "/api/v1/admin/media-blocks",
      operationId: "adminListMediaBlocks",
      summary: "Images blocked by content hash",
      description: "An upload (or Clawpix publish) whose bytes have one of these SHA-256 hashes is refused.",
      tags,
      auth: "admin",
      response: z.object({ blocks: z.array(MediaBlockView) }),
      errors: AUTH,
      handler: async () => ({ blocks: (await admin.mediaBlocks.list()).map(mediaBlockView) }),
    }),
    defineRoute({
      method: "put",
      path: "/api/v1/admin/media-blocks/:sha256",
      operationId: "adminBlockMedia",
      summary: "Block an image by its SHA-256 (a media item's sha256)",
      description: "Idempotent: blocking a blocked hash answers the existing block.",
      tags,
      auth: "admin",
      params: HashParams,
      body: MediaBlockBody,
      response: MediaBlockView,
      errors: AUTH,
      handler: async (_c, { params, body, admin: who }) => mediaBlockView((await admin.mediaBlocks.add(params.sha256, who.actor, body?.reason)).block),
    }),
    defineRoute({
      method: "delete",
      path: "/api/v1/admin/media-blocks/:sha256",
      operationId: "adminUnblockMedia",
      summary: "Lift an image block",
      tags,
      auth: "admin",
      params: HashParams,
      query: ReasonQuery,
      response: MediaBlockView,
      errors: { ...AUTH, 404: ["not_found"] },
      handler: async (_c, { params, query, admin: who }) => mediaBlockView(await admin.mediaBlocks.remove(params.sha256, who.actor, query.reason)),
    }),
    defineRoute({
      method: "get",
      path: "/api/v1/admin/tokens",
      operationId: "adminListTokens",
      summary: "Admin tokens (names and use, never the tokens)",
      description: "Tokens are created and revoked with the CLI: `npm run admin -- token create|revoke <name>`.",
      tags,
      auth: "admin",
      response: z.object({ tokens: z.array(TokenView) }),
      errors: AUTH,
      handler: async () => ({ tokens: (await admin.tokens.list()).map(tokenView) }),
    }),
  ];
}
