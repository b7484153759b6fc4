import { isIP } from "node:net";
import { bareHost, isAllowedAddress, isLocalhostName, isLoopbackAddress, resolveHost } from "../../net/address.ts";
import { DomainError } from "../errors.ts";

/**
 * Which webhook targets an instance may POST to. The address rule is the shared one (src/net/address.ts): public
 * unicast only, loopback too with ALLOW_PRIVATE_ADDRESS (development), nothing else private ever. On top of it,
 * webhooks want https; plain http only to loopback, and only with the allowance.
 */
export type AddressPolicy = {
  /** ALLOW_PRIVATE_ADDRESS (development): loopback targets allowed, and plain http to them. */
  allowPrivate: boolean;
};

/** Why an address is refused for a URL with this scheme, or null when it is fine. */
function refusal(address: string, protocol: string, policy: AddressPolicy): DomainError | null {
  if (protocol === "http:" && !isLoopbackAddress(address)) {
    return new DomainError("invalid", "webhook_url_insecure", "Webhook URLs must use https");
  }
  if (!isAllowedAddress(address, policy.allowPrivate)) {
    return new DomainError(
      "invalid",
      "webhook_url_private",
      "Webhook URL resolves to a private, loopback or otherwise non-public address",
      `${address} is not publicly routable`,
    );
  }
  return null;
}

/** The per-address rule for the pinned connection at delivery time (the same as at registration). */
export function webhookAddressAllowed(policy: AddressPolicy) {
  return (address: string, url: URL) => refusal(address, url.protocol, policy) === null;
}

/**
 * Checks a webhook URL: https (or, with the development allowance, http to loopback), no credentials, and every
 * address its host resolves to allowed. Throws the DomainError an API caller should see.
 */
export async function checkWebhookUrl(raw: string, policy: AddressPolicy): Promise<URL> {
  const url = new URL(raw);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && policy.allowPrivate)) {
    throw new DomainError("invalid", "webhook_url_insecure", "Webhook URLs must use https");
  }
  if (url.username || url.password) throw new DomainError("invalid", "validation_error", "Webhook URLs must not contain credentials");
  const host = bareHost(url);
  let addresses: string[];
  if (isLocalhostName(host)) addresses = ["127.0.0.1"];
  else {
    try {
      addresses = isIP(host) ? [host] : (await resolveHost(host)).map((a) => a.address);
    } catch {
      addresses = [];
    }
  }
  if (addresses.length === 0) throw new DomainError("invalid", "webhook_url_unresolvable", "Webhook host does not resolve", host);
  for (const address of addresses) {
    const problem = refusal(address, url.protocol, policy);
    if (problem) throw problem;
  }
  return url;
}
