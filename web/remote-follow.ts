import { lookupWebFinger } from "@fedify/webfinger";

/** The WebFinger link relation Mastodon (and most fediverse servers) use for "follow this account from here". */
export const SUBSCRIBE_REL = "http://ostatus.org/schema/1.0/subscribe";

const ACCT_RE = /^@?([A-Za-z0-9_.+-]{1,100})@([A-Za-z0-9.-]{1,253}(?::\d{1,5})?)$/;

/** `user@host`, `@user@host` or `acct:user@host` → the parts, or null when it is not a fediverse handle. */
export function parseHandle(input: string): { user: string; host: string } | null {
  const m = ACCT_RE.exec(input.trim().replace(/^acct:/i, ""));
  if (!m) return null;
  return { user: m[1]!, host: m[2]!.toLowerCase() };
}

export type RemoteFollowResult =
  | { ok: true; url: string; host: string }
  | { ok: false; reason: "invalid" | "unreachable" | "no_template"; host?: string };

/**
 * Finds where the visitor's own server lets them follow `actorUrl`: their WebFinger document's subscribe template with
 * `{uri}` filled in. Fedify's lookup refuses private and loopback addresses (unless allowed for tests) and caps
 * redirects; the whole lookup is bounded by `timeoutMs`. Only an http(s) result is ever handed back as a link.
 */
export async function resolveRemoteFollow(
  input: string,
  actorUrl: string,
  options: { allowPrivateAddress: boolean; userAgent: string; timeoutMs?: number },
): Promise<RemoteFollowResult> {
  const parsed = parseHandle(input);
  if (!parsed) return { ok: false, reason: "invalid" };
  const { user, host } = parsed;
  let jrd;
  try {
    jrd = await lookupWebFinger(`acct:${user}@${host}`, {
      allowPrivateAddress: options.allowPrivateAddress,
      userAgent: options.userAgent,
      maxRedirection: 3,
      signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
    });
  } catch {
    return { ok: false, reason: "unreachable", host };
  }
  if (!jrd) return { ok: false, reason: "unreachable", host };
  const template = jrd.links?.find((l) => l.rel === SUBSCRIBE_REL && typeof l.template === "string")?.template;
  if (!template || !template.includes("{uri}")) return { ok: false, reason: "no_template", host };
  try {
    const url = new URL(template.replace("{uri}", encodeURIComponent(actorUrl)));
    if (url.protocol !== "https:" && url.protocol !== "http:") return { ok: false, reason: "no_template", host };
    return { ok: true, url: url.href, host };
  } catch {
    return { ok: false, reason: "no_template", host };
  }
}
