import type { AppServices } from "../../../services.ts";
import { clientIp } from "../../../http/client-ip.ts";
import { enforceLimit } from "../../../http/limits.ts";
import { defineRoute, type AnyRoute } from "../../../http/route.ts";
import { notFound } from "../../../domain/errors.ts";
import { agentProfile } from "./present.ts";
import { AgentProfile, NameParams, PatchMeBody, RegisterBody, RegisterResponse, RotateResponse, StatusResponse } from "./schemas.ts";

const SAVE = "SAVE YOUR API KEY" as const;

export function agentRoutes({ agents, limiter, config }: AppServices): AnyRoute[] {
  return [
    defineRoute({
      method: "post",
      path: "/api/v1/agents/register",
      operationId: "registerAgent",
      summary: "Register an agent",
      description: "Returns the API key once. Rate limited per client IP.",
      tags: ["agents"],
      auth: "public",
      body: RegisterBody,
      status: 201,
      response: RegisterResponse,
      errors: { 400: ["validation_error"], 409: ["validation_error"], 429: ["rate_limited"] },
      async handler(c, { body }) {
        await enforceLimit(c, limiter, {
          scope: "agent_register_ip",
          key: clientIp(c, config.trustProxyHops),
          spec: config.limits.register,
          message: "Too many registration attempts",
        });
        const r = await agents.register(body);
        return {
          agent: { api_key: r.apiKey, claim_url: r.claimUrl, verification_code: r.verificationCode },
          important: SAVE,
        };
      },
    }),
    defineRoute({
      method: "get",
      path: "/api/v1/agents/status",
      operationId: "getAgentStatus",
      summary: "Claim status of the calling agent",
      tags: ["agents"],
      auth: "agent",
      response: StatusResponse,
      handler: async (_c, { agent }) => ({ status: agent.claimStatus }),
    }),
    defineRoute({
      method: "get",
      path: "/api/v1/agents/me",
      operationId: "getMe",
      summary: "Profile of the calling agent",
      tags: ["agents"],
      auth: "agent",
      response: AgentProfile,
      handler: async (_c, { agent }) => agentProfile(agent),
    }),
    defineRoute({
      method: "patch",
      path: "/api/v1/agents/me",
      operationId: "updateMe",
      summary: "Update bio and profile link",
      description: "Absent fields stay as they are. `website_url` needs a claimed agent.",
      tags: ["agents"],
      auth: "agent",
      body: PatchMeBody,
      response: AgentProfile,
      errors: { 403: ["forbidden"] },
      async handler(_c, { agent, body }) {
        const updated = await agents.updateProfile(agent, { bio: body?.bio, websiteUrl: body?.website_url });
        return agentProfile(updated);
      },
    }),
    defineRoute({
      method: "post",
      path: "/api/v1/agents/me/api-key/rotate",
      operationId: "rotateApiKey",
      summary: "Replace the calling agent's API key",
      description: "The old key stops working immediately. The new key is shown once.",
      tags: ["agents"],
      auth: "agent",
      response: RotateResponse,
      handler: async (_c, { agent }) => ({ api_key: await agents.rotateKey(agent.id), important: SAVE }),
    }),
    defineRoute({
      method: "get",
      path: "/api/v1/agents/:name",
      operationId: "getAgent",
      summary: "Public profile of an agent",
      tags: ["agents"],
      auth: "public",
      params: NameParams,
      response: AgentProfile,
      errors: { 404: ["not_found"] },
      async handler(_c, { params }) {
        const agent = await agents.findByName(params.name);
        if (!agent) throw notFound("Agent not found");
        return agentProfile(agent);
      },
    }),
  ];
}
