import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { BlockList, isIP } from "node:net";
import { DomainError } from "../errors.ts";

/**
 * SSRF guard for webhook targets: which addresses an instance may POST to. Everything that is not globally routable
 * unicast is refused (loopback, private, link-local, CGNAT, multicast, documentation and benchmark ranges, and the
 * IPv6 forms that embed an IPv4 address, which are checked as that address).
 */
const blocked = new BlockList();
for (const [net, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.88.99.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const) {
  blocked.addSubnet(net, prefix, "ipv4");
}
for (const [net, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["100::", 64],
  ["2001::", 23],
  ["2001:db8::", 32],
  ["fc00::", 7],
  ["fe80::", 10],
  ["fec0::", 10],
  ["ff00::", 8],
] as const) {
  blocked.addSubnet(net, prefix, "ipv6");
}

const loopback = new BlockList();
loopback.addSubnet("127.0.0.0", 8, "ipv4");
loopback.addAddress("::1", "ipv6");

/** The IPv4 address an IPv6 one stands for (mapped, compatible, NAT64, 6to4), or null. */
function embeddedIpv4(address: string): string | null {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|::|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1]!;
  const groups = expandIpv6(lower);
  if (!groups) return null;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  const zeros = (from: number, to: number) => groups.slice(from, to).every((g) => g === 0);
  if (zeros(0, 5) && groups[5] === 0xffff) return v4(groups[6]!, groups[7]!); // ::ffff:a.b.c.d
  if (zeros(0, 6) && (groups[6] !== 0 || groups[7]! > 1)) return v4(groups[6]!, groups[7]!); // ::a.b.c.d
  if (groups[0] === 0x64 && groups[1] === 0xff9b && zeros(2, 6)) return v4(groups[6]!, groups[7]!); // NAT64
  if (groups[0] === 0x2002) return v4(groups[1]!, groups[2]!); // 6to4
  return null;
}

function expandIpv6(address: string): number[] | null {
  if (isIP(address) !== 6 || address.includes(".")) return null;
  const [head, tail] = address.split("::") as [string, string | undefined];
  const part = (s: string | undefined) => (s ? s.split(":").map((g) => parseInt(g, 16)) : []);
  const left = part(head);
  const right = part(tail);
  const fill = tail === undefined ? [] : new Array<number>(8 - left.length - right.length).fill(0);
  const groups = [...left, ...fill, ...right];
  return groups.length === 8 ? groups : null;
}

/** True when `address` (an IP literal) is a public unicast address. */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 4) return !blocked.check(address, "ipv4");
  const v4 = embeddedIpv4(address);
  if (v4) return isPublicAddress(v4);
  return !blocked.check(address, "ipv6");
}

export function isLoopbackAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  const v4 = family === 6 ? embeddedIpv4(address) : address;
  return v4 ? loopback.check(v4, "ipv4") : loopback.check(address, "ipv6");
}

export type AddressPolicy = {
  /** ALLOW_PRIVATE_ADDRESS (development): private addresses allowed, and plain http to loopback. */
  allowPrivate: boolean;
};

/** Why an address is refused for a URL with this scheme, or null when it is fine. */
function refusal(address: string, protocol: string, policy: AddressPolicy): DomainError | null {
  if (protocol === "http:" && !isLoopbackAddress(address)) {
    return new DomainError("invalid", "webhook_url_insecure", "Webhook URLs must use https");
  }
  if (!policy.allowPrivate && !isPublicAddress(address)) {
    return new DomainError(
      "invalid",
      "webhook_url_private",
      "Webhook URL resolves to a private, loopback or otherwise non-public address",
      `${address} is not publicly routable`,
    );
  }
  return null;
}

/** Strips the brackets of an IPv6 literal host. */
export const bareHost = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, "$1");

/** All addresses of `hostname`; a resolver that does not answer within `timeoutMs` counts as a failure. */
function resolveAll(hostname: string, timeoutMs = 5_000): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(Object.assign(new Error(`DNS lookup of ${hostname} timed out`), { code: "ETIMEOUT" })), timeoutMs);
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) => {
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(addresses);
    });
  });
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
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await resolveAll(host)).map((a) => a.address);
    } catch {
      throw new DomainError("invalid", "webhook_url_unresolvable", "Webhook host does not resolve", host);
    }
  }
  if (addresses.length === 0) throw new DomainError("invalid", "webhook_url_unresolvable", "Webhook host does not resolve", host);
  for (const address of addresses) {
    const problem = refusal(address, url.protocol, policy);
    if (problem) throw problem;
  }
  return url;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http(s).request that refuses disallowed addresses at connection time, so a name that resolved to a
 * public address at registration cannot be re-pointed at an internal one later (DNS rebinding): the connection goes
 * to exactly the addresses checked here.
 */
export function guardedLookup(protocol: string, policy: AddressPolicy) {
  return (hostname: string, options: { all?: boolean; family?: number | string } | undefined, callback: LookupCallback) => {
    resolveAll(hostname).then(
      (addresses) => {
        const allowed = addresses.filter((a) => refusal(a.address, protocol, policy) === null);
        if (allowed.length === 0 || allowed.length !== addresses.length) {
          const error: NodeJS.ErrnoException = new Error(`${hostname} resolves to a disallowed address`);
          error.code = "EADDRNOTALLOWED";
          callback(error, "");
          return;
        }
        if (options?.all) callback(null, allowed);
        else callback(null, allowed[0]!.address, allowed[0]!.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, ""),
    );
  };
}

/** The same check for a URL whose host is an IP literal (Node skips `lookup` for those). */
export function literalRefusal(url: URL, policy: AddressPolicy): DomainError | null {
  const host = bareHost(url);
  return isIP(host) ? refusal(host, url.protocol, policy) : null;
}
