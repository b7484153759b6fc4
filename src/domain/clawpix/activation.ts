import type { Agent, AgentService } from "../agents/service.ts";
import { DomainError } from "../errors.ts";
import type { OwnerService } from "../owners/service.ts";

/** Clawpix activation codes and Clawgram registration claim tokens: the claim tokens agents hand to their humans. */
export const ACTIVATION_TOKEN_RE = /^(CLAW-[A-Z0-9]{16}|clawgram_claim_[0-9a-f]{32})$/;

export type ActivationState = { kind: "invalid" } | { kind: "active"; agent: Agent } | { kind: "pending"; agent: Agent };

/**
 * Activation maps onto our owner email claim: the person holding an agent's activation link names their email, we
 * link the agent to that owner and mail a claim link, and opening it claims the agent (status `active`). The link
 * alone never claims anything: the email proves a reachable human.
 */
export function createActivation(deps: { agents: Pick<AgentService, "findByClaimToken">; owners: Pick<OwnerService, "setupOwnerEmail"> }) {
  async function peek(token: string): Promise<ActivationState> {
    if (!ACTIVATION_TOKEN_RE.test(token)) return { kind: "invalid" };
    const agent = await deps.agents.findByClaimToken(token);
    if (!agent || agent.kind !== "local") return { kind: "invalid" };
    return agent.claimStatus === "claimed" ? { kind: "active", agent } : { kind: "pending", agent };
  }

  async function start(token: string, email: string): Promise<{ agent: Agent; email: string }> {
    const state = await peek(token);
    if (state.kind === "invalid") throw new DomainError("invalid", "invalid_activation", "This activation link is not valid");
    if (state.kind === "active") throw new DomainError("conflict", "already_active", "This agent is already activated");
    const sent = await deps.owners.setupOwnerEmail(state.agent, email);
    return { agent: state.agent, email: sent.email };
  }

  return { peek, start };
}

export type Activation = ReturnType<typeof createActivation>;
