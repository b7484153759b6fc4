import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { BlockList, isIP } from "node:net";

/**
 * The one answer to "may this server open a connection to that address?" (SSRF guard for everything we fetch or
 * POST on someone else's say-so: federation documents and images, MCP image URLs, webhooks).
 *
 * Refused always: unspecified, private (RFC 1918, ULA), CGNAT, link-local, site-local, multicast, broadcast and
 * reserved, documentation and benchmark ranges, the 6to4 relay anycast, and IPv6 transition prefixes that can reach
 * IPv4 space through a gateway (NAT64 64:ff9b::/96 and 64:ff9b:1::/48, 6to4 2002::/16, Teredo and the rest of
 * 2001::/23, IPv4-compatible ::/96, IPv4-translated ::ffff:0:0:0/96). IPv4-mapped ::ffff:a.b.c.d (any spelling) is
 * judged as the IPv4 address it carries. Loopback (127/8, ::1) is refused too, unless `allowLoopback`
 * (ALLOW_PRIVATE_ADDRESS, development and tests only): that allowance opens loopback and nothing else.
 */
const blocked = new BlockList();
for (const [net, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
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
  ["::", 96],
  ["::ffff:0:0:0", 96],
  ["64:ff9b::", 96],
  ["64:ff9b:1::", 48],
  ["100::", 64],
  ["2001::", 23],
  ["2001:db8::", 32],
  ["2002::", 16],
  ["3fff::", 20],
  ["fc00::", 7],
  ["fe80::", 10],
  ["fec0::", 10],
  ["ff00::", 8],
] as const) {
  blocked.addSubnet(net, prefix, "ipv6");
}

/** The eight 16-bit groups of an IPv6 literal (a dotted IPv4 tail allowed, a zone id ignored), or null. */
function ipv6Groups(address: string): number[] | null {
  let text = address.toLowerCase().split("%")[0]!;
  const dotted = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(2).map(Number) as [number, number, number, number];
    text = `${dotted[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail, ...rest] = text.split("::");
  if (rest.length > 0) return null;
  const part = (s: string | undefined) => (s ? s.split(":").map((g) => parseInt(g, 16)) : []);
  const left = part(head);
  const right = part(tail);
  const fill = tail === undefined ? 0 : 8 - left.length - right.length;
  if (fill < 0) return null;
  const groups = [...left, ...new Array<number>(fill).fill(0), ...right];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}

/** The IPv4 address an IPv4-mapped IPv6 address (::ffff:a.b.c.d, in any spelling) carries, or null. */
function mappedIpv4(address: string): string | null {
  const g = ipv6Groups(address);
  if (!g || !g.slice(0, 5).every((x) => x === 0) || g[5] !== 0xffff) return null;
  return `${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.${g[7]! & 0xff}`;
}

/** `address` in canonical form for the checks: IPv4, or IPv6 without zone; mapped IPv6 becomes its IPv4. */
function normalise(address: string): { ip: string; family: "ipv4" | "ipv6" } | null {
  const family = isIP(address);
  if (family === 4) return { ip: address, family: "ipv4" };
  if (family !== 6) return null;
  const v4 = mappedIpv4(address);
  if (v4) return { ip: v4, family: "ipv4" };
  const groups = ipv6Groups(address);
  return groups ? { ip: groups.map((g) => g.toString(16)).join(":"), family: "ipv6" } : null;
}

/** True for loopback: 127.0.0.0/8, ::1, and ::ffff:127.x.y.z. */
export function isLoopbackAddress(address: string): boolean {
  const n = normalise(address);
  if (!n) return false;
  return n.family === "ipv4" ? n.ip.startsWith("127.") : n.ip === "0:0:0:0:0:0:0:1";
}

/** True when `address` (an IP literal) is globally routable unicast. Anything unparsable is not. */
export function isPublicAddress(address: string): boolean {
  const n = normalise(address);
  return n !== null && !isLoopbackAddress(n.ip) && !blocked.check(n.ip, n.family);
}

/** Whether we may connect to `address`: public, or loopback when the development allowance is on. */
export function isAllowedAddress(address: string, allowLoopback: boolean): boolean {
  return isPublicAddress(address) || (allowLoopback && isLoopbackAddress(address));
}

/** `localhost` and `*.localhost` are loopback by definition (RFC 6761), whatever a resolver says. */
export function isLocalhostName(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, "");
  return host === "localhost" || host.endsWith(".localhost");
}

/** The host of a URL without the brackets of an IPv6 literal. */
export const bareHost = (url: URL): string => url.hostname.replace(/^\[(.*)\]$/, "$1");

/** Every address `hostname` resolves to (an IP literal resolves to itself); a resolver slower than `timeoutMs` fails. */
export function resolveHost(hostname: string, timeoutMs = 5_000): Promise<LookupAddress[]> {
  const family = isIP(hostname);
  if (family) return Promise.resolve([{ address: hostname, family }]);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(Object.assign(new Error(`DNS lookup of ${hostname} timed out`), { code: "ETIMEOUT" })),
      timeoutMs,
    );
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) => {
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(addresses);
    });
  });
}
