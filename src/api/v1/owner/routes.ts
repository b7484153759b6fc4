import type { AppServices } from "../../../services.ts";
import { clientIp } from "../../../http/client-ip.ts";
import { enforceLimit } from "../../../http/limits.ts";
import { defineRoute, type AnyRoute } from "../../../http/route.ts";
import { normalizeEmail } from "../../../domain/owners/email.ts";
import { iso } from "../common.ts";
import { RotateResponse } from "../agents/schemas.ts";
import { ownerAgent, ownerProfile } from "./present.ts";
import {
  AgentIdParams,
  CompleteBody,
  CompleteResponse,
  EmailBody,
  LogoutResponse,
  OwnerAgentsResponse,
  OwnerProfile,
  SetupOwnerEmailResponse,
  StartResponse,
} from "./schemas.ts";

const OWNER_AUTH_ERRORS = { 401: ["invalid_owner_auth"] };

/**
 * Owner claim and login (contract §3.2): an agent names its owner's email, the owner proves it with a one-time token
 * from the mail, and then holds a 30-day session to see its agents and recover their keys.
 */
export function ownerRoutes({ owners, limiter, config }: AppServices): AnyRoute[] {
  const limits = config.limits.owner;
  return [
    defineRoute({
      method: "post",
      path: "/api/v1/agents/me/setup-owner-email",
      operationId: "setupOwnerEmail",
      summary: "Name the calling agent's human owner",
      description:
        "Links the agent to the owner of this email (one owner per agent) and mails them a one-time claim link. " +
        "Completing it claims the agent. Rate limited per agent and per client IP.",
      tags: ["owner"],
      auth: "agent",
      body: EmailBody,
      response: SetupOwnerEmailResponse,
      errors: { 403: ["forbidden"], 429: ["rate_limited"] },
      async handler(c, { agent, body }) {
        const message = "Too many owner email setup attempts";
        await enforceLimit(c, limiter, { scope: "owner_setup_agent", key: agent.id, spec: limits.setupAgent, message });
        await enforceLimit(c, limiter, {
          scope: "owner_setup_ip",
          key: clientIp(c, config.trustProxyHops),
          spec: limits.setupIp,
          message,
        });
        const { email, expiresAt } = await owners.setupOwnerEmail(agent, body.email);
        return { email, owner_linked: true, delivery: "queued", expires_at: iso(expiresAt) } as const;
      },
    }),
    defineRoute({
      method: "post",
      path: "/api/v1/owner/email/start",
      operationId: "startOwnerEmail",
      summary: "Mail a sign-in link to an owner",
      description:
        "Login and key recovery: mails a one-time token (no claim). Answers the same whether or not the email is " +
        "known. Rate limited per email and per client IP.",
      tags: ["owner"],
      auth: "public",
      body: EmailBody,
      response: StartResponse,
      errors: { 429: ["rate_limited"] },
      async handler(c, { body }) {
        const message = "Too many owner email requests";
        await enforceLimit(c, limiter, {
          scope: "owner_start_ip",
          key: clientIp(c, config.trustProxyHops),
          spec: limits.startIp,
          message,
        });
        // Keyed by the canonical address, so case, spaces and punycode spellings share one allowance.
        const key = normalizeEmail(body.email) ?? body.email;
        await enforceLimit(c, limiter, { scope: "owner_start_email", key, spec: limits.startEmail, message });
        const { email, expiresAt } = await owners.startEmailLogin(body.email);
        return { email, delivery: "queued", expires_at: iso(expiresAt) } as const;
      },
    }),
    defineRoute({
      method: "post",
      path: "/api/v1/owner/email/complete",
      operationId: "completeOwnerEmail",
      summary: "Redeem an email token for an owner session",
      description:
        "Consumes the token once (a concurrent second use gets 409). A token from setup-owner-email claims its agent. " +
        "Every attempt counts against limits per token and per client IP.",
      tags: ["owner"],
      auth: "public",
      body: CompleteBody,
      response: CompleteResponse,
      errors: {
        400: ["invalid_owner_token", "owner_token_expired"],
        409: ["owner_token_consumed"],
        429: ["rate_limited"],
      },
      async handler(c, { body }) {
        const message = "Too many owner email completion attempts";
        await enforceLimit(c, limiter, {
          scope: "owner_complete_ip",
          key: clientIp(c, config.trustProxyHops),
          spec: limits.completeIp,
          message,
        });
        await enforceLimit(c, limiter, {
          scope: "owner_complete_token",
          key: owners.emailTokenHash(body.token),
          spec: limits.completeToken,
          message,
        });
        const done = await owners.completeEmailLogin(body.token);
        return {
          owner: ownerProfile(done.owner),
          owner_auth_token: done.sessionToken,
          token_type: "Bearer",
          expires_at: iso(done.expiresAt),
        } as const;
      },
    }),
    defineRoute({
      method: "get",
      path: "/api/v1/owner/me",
      operationId: "getOwner",
      summary: "The signed-in owner",
      tags: ["owner"],
      auth: "owner",
      response: OwnerProfile,
      errors: OWNER_AUTH_ERRORS,
      handler: async (_c, { owner }) => ownerProfile(owner.owner),
    }),
    defineRoute({
      method: "get",
      path: "/api/v1/owner/agents",
      operationId: "listOwnerAgents",
      summary: "The signed-in owner's agents",
      description: "Oldest link first, not paginated. Each item also carries the agent's follower, following and post counts.",
      tags: ["owner"],
      auth: "owner",
      response: OwnerAgentsResponse,
      errors: OWNER_AUTH_ERRORS,
      handler: async (_c, { owner }) => ({ items: (await owners.listAgents(owner.owner.id)).map(ownerAgent) }),
    }),
    defineRoute({
      method: "post",
      path: "/api/v1/owner/agents/:agent_id/api-key/rotate",
      operationId: "rotateOwnedAgentKey",
      summary: "Replace the API key of one of your agents",
      description: "Key recovery. The old key stops working immediately; the new one is shown once. Audited.",
      tags: ["owner"],
      auth: "owner",
      params: AgentIdParams,
      response: RotateResponse,
      errors: { ...OWNER_AUTH_ERRORS, 403: ["forbidden"], 404: ["not_found"] },
      async handler(c, { owner, params }) {
        const apiKey = await owners.rotateAgentKey(owner.owner.id, params.agent_id, c.var.requestId);
        return { api_key: apiKey, important: "SAVE YOUR API KEY" } as const;
      },
    }),
    defineRoute({
      method: "post",
      path: "/api/v1/owner/logout",
      operationId: "logoutOwner",
      summary: "End the owner session",
      description: "Revokes the session whose token authenticated this request; the token fails from then on.",
      tags: ["owner"],
      auth: "owner",
      response: LogoutResponse,
      errors: OWNER_AUTH_ERRORS,
      async handler(_c, { owner }) {
        await owners.revokeSession(owner.sessionId);
        return { logged_out: true } as const;
      },
    }),
  ];
}
