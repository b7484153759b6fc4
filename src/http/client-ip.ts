import { isIP } from "node:net";
import type { Context } from "hono";

type NodeBindings = { incoming?: { socket?: { remoteAddress?: string } } };

/**
 * The client's address. X-Forwarded-For is read only when proxies are trusted, and then from the right: each trusted
 * hop appends the address it saw, so the entry `hops` from the end is the first one no client could have forged.
 */
export function clientIp(c: Context, trustProxyHops: number): string {
  const socketAddress = (c.env as NodeBindings | undefined)?.incoming?.socket?.remoteAddress;
  if (trustProxyHops > 0) {
    const chain = (c.req.header("x-forwarded-for") ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    const candidate = chain[chain.length - trustProxyHops] ?? chain[0];
    if (candidate && isIP(candidate)) return candidate;
  }
  return socketAddress ?? "unknown";
}
