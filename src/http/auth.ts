import type { Context, MiddlewareHandler } from "hono";
import type { Agent, AgentService } from "../domain/agents/service.ts";
import type { AuthenticatedOwner, OwnerService } from "../domain/owners/service.ts";
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
