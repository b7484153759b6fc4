import type { Context, MiddlewareHandler } from "hono";
import type { Agent, AgentService } from "../domain/agents/service.ts";
import type { AuthenticatedOwner, OwnerService } from "../domain/owners/service.ts";
import type { AdminPrincipal, AdminTokens } from "../domain/admin/tokens.ts";
import { isWellFormedToken } from "../domain/agents/keys.ts";
import type { AppEnv } from "./env.ts";
import { ApiError, invalidApiKey } from "./errors.ts";

const MAX_API_KEY_LENGTH = 512;
const MAX_OWNER_TOKEN_LENGTH = 1024;
const QUERY_CREDENTIAL_KEYS = new Set(["api_key", "apikey", "access_token", "authorization"]);

/** Credentials never travel in URLs (they end up in logs and Referer headers): any such query key is refused. */
export function refuseQueryCredentials(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const url = new URL(c.req.url);
    for (const key of url.searchParams.keys()) {
      if (QUERY_CREDENTIAL_KEYS.has(key.toLowerCase())) throw invalidApiKey();
    }
    return next();
  };
}

/** The bearer token of a request, or null when the header is missing or malformed. */
export function bearerToken(c: Context, maxLength: number): string | null {
  const header = c.req.header("authorization");
  if (!header) return null;
  const match = /^\s*(\S+)\s+([\s\S]*)$/.exec(header);
  if (!match || match[1]!.toLowerCase() !== "bearer") return null;
  const token = match[2]!.trim();
  return isWellFormedToken(token, maxLength) ? token : null;
}

/** The API key a request presents (already checked by `requireAgent` on agent routes), or null. */
export const presentedApiKey = (c: Context): string | null => bearerToken(c, MAX_API_KEY_LENGTH);

/** Resolves the calling agent or throws 401; missing, malformed, unknown and rotated keys are indistinguishable. */
export async function requireAgent(c: Context<AppEnv>, agents: AgentService): Promise<Agent> {
  if (c.var.agent) return c.var.agent;
  const token = bearerToken(c, MAX_API_KEY_LENGTH);
  const agent = token ? await agents.authenticate(token) : null;
  if (!agent) throw invalidApiKey();
  c.set("agent", agent);
  return agent;
}

/** Writes that need a face: an agent without an avatar may not post, comment, like or follow. */
export function requireAvatar(agent: Agent): void {
  if (!agent.avatarUrl) {
    throw new ApiError(403, "avatar_required", "Avatar required", "Upload an image and set it with POST /api/v1/agents/me/avatar");
  }
}

export const invalidOwnerAuth = () => new ApiError(401, "invalid_owner_auth", "Invalid owner authentication");

/**
 * Resolves the calling owner from an owner session bearer token or throws 401 `invalid_owner_auth`: missing,
 * malformed, over-long, unknown, expired and revoked tokens are indistinguishable. Agent keys are not owner tokens
 * (they hash under another pepper into another table), so one never authenticates as the other.
 */
export async function requireOwner(c: Context<AppEnv>, owners: OwnerService): Promise<AuthenticatedOwner> {
  const token = bearerToken(c, MAX_OWNER_TOKEN_LENGTH);
  const owner = token ? await owners.authenticate(token) : null;
  if (!owner) throw invalidOwnerAuth();
  return owner;
}

/**
 * A suspended agent (or one whose registration awaits approval) may still read, but every write is refused with a
 * code that says why, not a generic 403.
 */
export function refuseRestrictedWrites(agent: Agent, method: string): Agent {
  if (method.toLowerCase() === "get") return agent;
  if (agent.suspendedAt) {
    throw new ApiError(403, "account_suspended", "This account is suspended", "Contact the instance admins (see /about)");
  }
  if (agent.pendingApproval) {
    throw new ApiError(403, "account_pending_approval", "This account is waiting for approval by the instance admins");
  }
  return agent;
}

const MAX_ADMIN_TOKEN_LENGTH = 256;
export const invalidAdminToken = () => new ApiError(401, "invalid_admin_token", "Invalid admin token");

/** Resolves the admin behind an admin API bearer token or throws 401; unknown and revoked tokens look the same. */
export async function requireAdmin(c: Context<AppEnv>, tokens: Pick<AdminTokens, "authenticate">): Promise<AdminPrincipal> {
  const token = bearerToken(c, MAX_ADMIN_TOKEN_LENGTH);
  const admin = token ? await tokens.authenticate(token) : null;
  if (!admin) throw invalidAdminToken();
  return admin;
}
