import "../temporal.ts";
import { userInfo } from "node:os";
import { parseArgs } from "node:util";
import { z } from "zod";
import { ConfigError, loadConfig } from "../config/index.ts";
import { DomainError } from "../domain/errors.ts";
import type { InstanceSettings } from "../domain/instance/settings.ts";
import { RESOLUTIONS, type Resolution } from "../domain/admin/reports.ts";
import type { AccountAction } from "../domain/admin/accounts.ts";

const USAGE = `Usage: npm run admin -- <command> [options]

Tokens (for the admin API, /api/v1/admin/*):
  token create <name>               print a new admin token (shown once)
  token revoke <name>
  token list
Instance settings (served on /about and in NodeInfo):
  settings show
  settings set <key> <value>        keys: name, description, contact, registrations (open|closed|approval),
                                    rules (JSON array), sensitive_threshold, report_weights (JSON),
                                    write_limits (JSON or "off"), allowlist_mode (true|false),
                                    blocked_terms (JSON array of words/phrases refused in posts,
                                    comments and profiles)
Reports:
  reports list [--origin local|remote] [--limit N]
  reports resolve <post_id> <${RESOLUTIONS.join("|")}> [--forward] [--block-media]
  reports forward <post_id> [--comment TEXT]
Accounts (by name, user@host or id):
  account show <account>
  account list [--filter all|suspended|limited|sensitive|pending] [--kind local|remote]
  account <suspend|unsuspend|limit|unlimit|force-sensitive|unforce-sensitive|approve|purge> <account>
  purge-expired                     purge accounts suspended more than 30 days ago
Blocked images (by the SHA-256 of the uploaded bytes, a media item's sha256):
  media list
  media block <sha256> | media unblock <sha256>
Federation policy:
  domain list
  domain block <domain> --severity suspend|limit|noop [--reject-media] [--reject-reports] [--public-comment TEXT]
  domain unblock <domain>
  domain allow <domain> | domain disallow <domain>
Audit log:
  audit [--limit N] [--action NAME] [--target ID]

Common options: --reason TEXT (recorded in the audit log), --actor NAME (default cli:<user>), --json`;

const ACCOUNT_ACTIONS: Record<string, AccountAction> = {
  suspend: "suspend",
  unsuspend: "unsuspend",
  limit: "limit",
  unlimit: "unlimit",
  "force-sensitive": "force_sensitive",
  "unforce-sensitive": "unforce_sensitive",
  approve: "approve",
  purge: "purge",
};

class UsageError extends Error {}

const json = (value: string) => {
  try {
    return JSON.parse(value) as unknown;
  } catch {
    throw new UsageError(`not valid JSON: ${value}`);
  }
};

/** `settings set` values: text as given, numbers, booleans and JSON where the setting needs them. */
function settingPatch(key: string, value: string): Partial<InstanceSettings> {
  switch (key) {
    case "name":
    case "description":
      return { [key]: value };
    case "contact":
      return { contact: value === "" || value === "none" ? null : value };
    case "registrations":
      return { registrations: value as InstanceSettings["registrations"] };
    case "rules":
      return { rules: json(value) as string[] };
    case "sensitive_threshold":
      return { sensitiveThreshold: Number(value) };
    case "report_weights":
      return { reportWeights: json(value) as InstanceSettings["reportWeights"] };
    case "write_limits":
      return { writeLimits: value === "off" ? null : (json(value) as InstanceSettings["writeLimits"]) };
    case "allowlist_mode":
      return { allowlistMode: value === "true" };
    case "blocked_terms":
      return { blockedTerms: json(value) as string[] };
    default:
      throw new UsageError(`unknown setting: ${key}`);
  }
}

const parseOptions = (argv: string[]) =>
  parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      reason: { type: "string" },
      actor: { type: "string" },
      json: { type: "boolean", default: false },
      origin: { type: "string" },
      limit: { type: "string" },
      forward: { type: "boolean", default: false },
      "block-media": { type: "boolean", default: false },
      comment: { type: "string" },
      filter: { type: "string" },
      kind: { type: "string" },
      severity: { type: "string" },
      "reject-media": { type: "boolean", default: false },
      "reject-reports": { type: "boolean", default: false },
      "public-comment": { type: "string" },
      action: { type: "string" },
      target: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });

export type CliIo = { out: (line: string) => void; err: (line: string) => void; env: Record<string, string | undefined> };

/** Runs one command; returns the exit code (0 ok, 1 refused or failed, 64 usage). */
export async function main(argv: string[], io: CliIo = { out: console.log, err: console.error, env: process.env }): Promise<number> {
  const { out, err } = io;
  let parsed;
  try {
    parsed = parseOptions(argv);
  } catch (error) {
    err(`${(error as Error).message}\n\n${USAGE}`);
    return 64;
  }
  const { values, positionals } = parsed;
  const [command, sub, arg, arg2] = positionals;
  if (!command || values.help) {
    out(USAGE);
    return command ? 0 : 64;
  }
  const actor = values.actor ?? `cli:${userInfo().username}`;
  const reason = values.reason;
  const limit = values.limit ? Number(values.limit) : undefined;
  const print = (value: unknown, text: () => string) => out(values.json ? JSON.stringify(value, null, 2) : text());

  const config = loadConfig(io.env);
  const { setupLogging } = await import("../logging.ts");
  await setupLogging("warning");
  const { openDatabase } = await import("../db/open.ts");
  const { createServices } = await import("../services.ts");
  const { createClawgramFederation } = await import("../../federation/index.ts");
  const { policyIdle } = await import("../../federation/policy.ts");
  const database = await openDatabase(config);
  const services = createServices(config, database);
  // The same listeners as the server: what an action federates (Delete of a suspended actor, a forwarded Flag) is put
  // on the shared queue, and a worker process delivers it.
  createClawgramFederation(services);
  const { admin, instance } = services;
  const need = (v: string | undefined, what: string) => {
    if (!v) throw new UsageError(`missing ${what}`);
    return v;
  };
  try {
    switch (command) {
      case "token": {
        if (sub === "create") {
          const { token, record } = await admin.tokens.create(need(arg, "token name"), actor, reason);
          print({ name: record.name, token }, () => `Admin token "${record.name}" (shown once, store it safely):\n${token}`);
        } else if (sub === "revoke") {
          const record = await admin.tokens.revoke(need(arg, "token name"), actor, reason);
          print({ name: record.name, revoked_at: record.revokedAt }, () => `Revoked admin token "${record.name}"`);
        } else if (sub === "list") {
          const list = await admin.tokens.list();
          print(list.map(({ tokenHash: _, ...t }) => t), () =>
            list.map((t) => `${t.name}\tcreated ${t.createdAt.toISOString()} by ${t.createdBy}\t${t.revokedAt ? `revoked ${t.revokedAt.toISOString()}` : "active"}`).join("\n") || "(no tokens)",
          );
        } else throw new UsageError("token create|revoke|list");
        break;
      }
      case "settings": {
        if (sub === "show") {
          const s = await instance.get();
          print(s, () => JSON.stringify(s, null, 2));
        } else if (sub === "set") {
          const s = await instance.update(settingPatch(need(arg, "setting"), need(arg2, "value")), actor, reason);
          print(s, () => `Updated. Settings now:\n${JSON.stringify(s, null, 2)}`);
        } else throw new UsageError("settings show|set");
        break;
      }
      case "reports": {
        if (sub === "list") {
          const origin = values.origin === "local" || values.origin === "remote" ? values.origin : undefined;
          const groups = await admin.reports.list({ origin, limit: limit ?? 25, offset: 0 });
          print(groups, () =>
            groups
              .map((g) =>
                [
                  `post ${g.post.id} by ${g.post.author.name} (${g.post.author.kind})  score ${g.score}  reports ${g.reports.length}${g.post.isSensitive ? "  sensitive" : ""}${g.post.deleted ? "  deleted" : ""}`,
                  ...g.reports.map((r) => `  - ${r.reason} by ${r.reporter.name} (${r.origin}, weight ${r.weight})${r.details ? `: ${r.details}` : ""}`),
                ].join("\n"),
              )
              .join("\n") || "(no open reports)",
          );
        } else if (sub === "resolve") {
          const postId = need(arg, "post id");
          const outcome = need(arg2, "resolution") as Resolution;
          if (!RESOLUTIONS.includes(outcome)) throw new UsageError(`resolution must be one of ${RESOLUTIONS.join(", ")}`);
          if (values.forward) await admin.reports.forward(postId, actor, reason);
          const r = await admin.reports.resolve(postId, outcome, actor, reason, { blockMedia: values["block-media"] });
          print(r, () =>
            `Resolved ${r.reportIds.length} report(s) on ${r.postId}: ${r.outcome}${r.blockedHashes ? `; blocked ${r.blockedHashes.length} image hash(es)` : ""}`,
          );
        } else if (sub === "forward") {
          const r = await admin.reports.forward(need(arg, "post id"), actor, values.comment ?? reason);
          print(r, () => `Forwarded ${r.reportIds.length} report(s) to ${r.to}`);
        } else throw new UsageError("reports list|resolve|forward");
        break;
      }
      case "account": {
        if (sub === "show") {
          const a = await admin.accounts.find(need(arg, "account"));
          print(a, () => JSON.stringify(a, null, 2));
        } else if (sub === "list") {
          const filter = z.enum(["all", "suspended", "limited", "sensitive", "pending"]).parse(values.filter ?? "all");
          const kind = values.kind === "local" || values.kind === "remote" ? values.kind : undefined;
          const list = await admin.accounts.list({ filter, kind, limit: limit ?? 100 });
          print(list, () =>
            list.map((a) => `${a.name}\t${a.kind}${a.suspendedAt ? "\tsuspended" : ""}${a.limitedAt ? "\tlimited" : ""}${a.forceSensitiveAt ? "\tsensitive" : ""}${a.pendingApproval ? "\tpending" : ""}`).join("\n") || "(none)",
          );
        } else {
          const action = ACCOUNT_ACTIONS[sub ?? ""];
          if (!action) throw new UsageError("account show|list|suspend|unsuspend|limit|unlimit|force-sensitive|unforce-sensitive|approve|purge");
          const target = await admin.accounts.find(need(arg, "account"));
          const updated = await admin.accounts.act(target.id, action, actor, reason);
          print(updated ?? { purged: target.id }, () => `${sub}: ${target.name} done`);
        }
        break;
      }
      case "purge-expired": {
        const n = await admin.accounts.purgeExpired();
        print({ purged: n }, () => `Purged ${n} account(s)`);
        break;
      }
      case "media": {
        if (sub === "list") {
          const list = await admin.mediaBlocks.list();
          print(list, () =>
            list.map((b) => `${b.sha256}\tby ${b.createdBy} ${b.createdAt.toISOString()}${b.sourcePostId ? `\tfrom post ${b.sourcePostId}` : ""}${b.reason ? `\t"${b.reason}"` : ""}`).join("\n") ||
            "(no blocked images)",
          );
        } else if (sub === "block") {
          const { block, created } = await admin.mediaBlocks.add(need(arg, "sha256"), actor, reason);
          print(block, () => (created ? `Blocked image ${block.sha256}` : `Image ${block.sha256} was already blocked`));
        } else if (sub === "unblock") {
          const b = await admin.mediaBlocks.remove(need(arg, "sha256"), actor, reason);
          print(b, () => `Unblocked image ${b.sha256}`);
        } else throw new UsageError("media list|block|unblock");
        break;
      }
      case "domain": {
        if (sub === "list") {
          const [blocks, allows, s] = await Promise.all([admin.domains.listBlocks(), admin.domains.listAllows(), instance.get()]);
          const value = { blocks, allowed: allows.map((a) => a.domain), allowlistMode: s.allowlistMode };
          print(value, () =>
            [
              `allow-list mode: ${s.allowlistMode ? "on" : "off"}`,
              ...blocks.map((b) => `block ${b.domain}\t${b.severity}${b.rejectMedia ? "\treject_media" : ""}${b.rejectReports ? "\treject_reports" : ""}`),
              ...allows.map((a) => `allow ${a.domain}`),
            ].join("\n"),
          );
        } else if (sub === "block") {
          const severity = z.enum(["suspend", "limit", "noop"]).parse(values.severity ?? "suspend");
          const r = await admin.domains.block(
            need(arg, "domain"),
            { severity, rejectMedia: values["reject-media"], rejectReports: values["reject-reports"], publicComment: values["public-comment"] ?? null },
            actor,
            reason,
          );
          print(r, () => `Blocked ${r.block.domain} (${r.block.severity}); ${r.affectedAccounts} known account(s) affected`);
        } else if (sub === "unblock") {
          const b = await admin.domains.unblock(need(arg, "domain"), actor, reason);
          print(b, () => `Unblocked ${b.domain}`);
        } else if (sub === "allow" || sub === "disallow") {
          const r = await admin.domains[sub](need(arg, "domain"), actor, reason);
          print(r, () => `${sub === "allow" ? "Allowed" : "Removed from the allow list:"} ${r.domain}`);
        } else throw new UsageError("domain list|block|unblock|allow|disallow");
        break;
      }
      case "audit": {
        const entries = await admin.audit.list({ limit: limit ?? 50, action: values.action, targetId: values.target });
        print(entries, () =>
          entries
            .map((e) => `${e.createdAt.toISOString()}  ${e.actor}  ${e.action}  ${e.targetType ?? ""}:${e.targetId ?? ""}${e.reason ? `  "${e.reason}"` : ""}`)
            .join("\n") || "(empty)",
        );
        break;
      }
      default:
        throw new UsageError(`unknown command: ${command}`);
    }
    await policyIdle();
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      err(`${error.message}\n\n${USAGE}`);
      return 64;
    }
    if (error instanceof DomainError) {
      err(`Error (${error.code}): ${error.message}${error.hint ? ` — ${error.hint}` : ""}`);
      return 1;
    }
    if (error instanceof z.ZodError) {
      err(`Invalid value: ${error.issues.map((i) => `${i.path.join(".") || "value"}: ${i.message}`).join("; ")}`);
      return 1;
    }
    throw error;
  } finally {
    await database.close();
  }
}

if (import.meta.main) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (error) {
    console.error(error instanceof ConfigError ? error.message : error);
    process.exitCode = 1;
  }
}
