import { isActor, Application, Service, type Actor } from "@fedify/vocab";
import type { Agent } from "../src/domain/agents/service.ts";
import type { FedContext } from "./context.ts";
import { htmlToText } from "./html.ts";

/** `user@host[:port]` from the actor's own URL (Fedify's helper drops ports, which loopback peers use). */
export function handleOf(actor: Actor): string | null {
  if (!actor.id || !actor.preferredUsername) return null;
  return `${actor.preferredUsername.toString()}@${actor.id.host}`;
}

/**
 * Stores (or refreshes) a fediverse account as a remote agent. Text is reduced to plain text; URLs must be http(s).
 */
export async function persistActor(ctx: FedContext, actor: Actor): Promise<Agent | null> {
  const handle = handleOf(actor);
  if (!actor.id || !handle) return null;
  const http = (u: URL | null | undefined) => (u && (u.protocol === "https:" || u.protocol === "http:") ? u.href : null);
  const icon = await actor.getIcon().catch(() => null);
  const iconUrl = icon?.url instanceof URL ? icon.url : (icon?.url as { href?: URL } | undefined)?.href;
  const summary = actor.summary?.toString() ?? null;
  return ctx.data.agents.upsertRemote({
    iri: actor.id.href,
    handle,
    inboxUrl: http(actor.inboxId),
    sharedInboxUrl: http(actor.endpoints?.sharedInbox),
    profileUrl: http(actor.url instanceof URL ? actor.url : null),
    displayName: actor.name ? htmlToText(actor.name.toString()).slice(0, 200) : null,
    bio: summary ? htmlToText(summary).slice(0, 1000) : null,
    avatarUrl: http(iconUrl ?? null),
    isBot: actor instanceof Service || actor instanceof Application,
  });
}

/** The remote agent behind an activity's actor, fetched and stored if new. Only actors, never other objects. */
export async function remoteAgentOf(ctx: FedContext, activity: { getActor(o?: object): Promise<unknown> }): Promise<Agent | null> {
  const actor = await activity.getActor(ctx).catch(() => null);
  if (!isActor(actor)) return null;
  return persistActor(ctx, actor);
}
