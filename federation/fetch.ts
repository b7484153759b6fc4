import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import http from "node:http";
import https from "node:https";
import { BlockList, isIP } from "node:net";
import type { DocumentLoader } from "@fedify/fedify";

/**
 * Our own outbound fetches (remote notes and outboxes we look up, remote images we thumbnail) go through here, not
 * through a plain `fetch`: every hop of a redirect chain is re-validated, bodies are capped while they stream, and
 * slow servers time out. Private, link-local, CGNAT, documentation, multicast and NAT64/6to4 ranges are refused
 * always; loopback only opens with ALLOW_PRIVATE_ADDRESS (tests and local experiments).
 */

export class FetchRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FetchRefused";
  }
}

const blocked = new BlockList();
for (const [net, prefix] of [
  ["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["169.254.0.0", 16], ["172.16.0.0", 12], ["192.0.0.0", 24],
  ["192.0.2.0", 24], ["192.88.99.0", 24], ["192.168.0.0", 16], ["198.18.0.0", 15], ["198.51.100.0", 24],
  ["203.0.113.0", 24], ["224.0.0.0", 4], ["240.0.0.0", 4],
] as const) blocked.addSubnet(net, prefix, "ipv4");
for (const [net, prefix] of [
  ["::", 128], ["64:ff9b::", 96], ["64:ff9b:1::", 48], ["100::", 64], ["2001::", 23], ["2001:db8::", 32], ["2002::", 16],
  ["fc00::", 7], ["fe80::", 10], ["ff00::", 8],
] as const) blocked.addSubnet(net, prefix, "ipv6");
const loopback = new BlockList();
loopback.addSubnet("127.0.0.0", 8, "ipv4");
loopback.addAddress("::1", "ipv6");

/** Whether we may connect to `address` (an IP literal). IPv4-mapped IPv6 is judged as the IPv4 it carries. */
export function isAllowedAddress(address: string, allowLoopback: boolean): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const ip = mapped ? mapped[1]! : address;
  const family = isIP(ip) === 6 ? "ipv6" : "ipv4";
  if (loopback.check(ip, family)) return allowLoopback;
  return !blocked.check(ip, family);
}

function checkUrl(url: URL, allowLoopback: boolean): void {
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new FetchRefused(`unsupported scheme ${url.protocol}`);
  if (url.username || url.password) throw new FetchRefused("credentials in URL");
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if ((host === "localhost" || host.endsWith(".localhost")) && !allowLoopback) throw new FetchRefused("localhost is not allowed");
  // Node does not call `lookup` for IP literals: those are judged here, names in guardedLookup.
  if (isIP(host) && !isAllowedAddress(host, allowLoopback)) throw new FetchRefused(`${host} is not a public address`);
}

/**
 * DNS resolution for our sockets: every address of the name must be allowed, and the connection goes to the address
 * that was checked, so a second, rebound answer can't slip a private address in.
 */
function guardedLookup(allowLoopback: boolean) {
  return (hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    dnsLookup(hostname, { all: true }, (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => {
      if (error) return callback(error, "");
      if (addresses.length === 0 || !addresses.every((a) => isAllowedAddress(a.address, allowLoopback))) {
        return callback(new FetchRefused(`${hostname} resolves to a non-public address`), "");
      }
      if (options?.all) callback(null, addresses);
      else callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

type Hop = { status: number; headers: Headers; location?: string; body: Buffer };

function requestOnce(url: URL, headers: Headers, allowLoopback: boolean, maxBytes: number, signal: AbortSignal): Promise<Hop> {
  return new Promise((resolve, reject) => {
    const client = url.protocol === "https:" ? https : http;
    const req = client.request(
      url,
      { method: "GET", headers: Object.fromEntries(headers), lookup: guardedLookup(allowLoopback) as never, signal },
      (res) => {
        const status = res.statusCode ?? 0;
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") h.set(k, v);
        if (status >= 300 && status < 400 && res.headers.location) {
          res.resume();
          return resolve({ status, headers: h, location: res.headers.location, body: Buffer.alloc(0) });
        }
        const declared = Number(res.headers["content-length"] ?? "NaN");
        if (declared > maxBytes) {
          res.destroy();
          return reject(new FetchRefused(`response of ${declared} bytes exceeds ${maxBytes}`));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            res.destroy();
            reject(new FetchRefused(`response exceeds ${maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on("end", () => resolve({ status, headers: h, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

export type SafeFetchOptions = {
  allowLoopback: boolean;
  maxBytes: number;
  accept: string;
  timeoutMs?: number;
  maxRedirects?: number;
  userAgent?: string;
  /** Signs each hop's request (authorized-fetch servers want signed GETs). */
  sign?: (request: Request) => Promise<Request>;
};

export type SafeResponse = { url: URL; status: number; headers: Headers; body: Buffer };

export async function safeFetch(input: string | URL, options: SafeFetchOptions): Promise<SafeResponse> {
  let url = new URL(input);
  const maxRedirects = options.maxRedirects ?? 5;
  const signal = AbortSignal.timeout(options.timeoutMs ?? 15_000);
  for (let hop = 0; ; hop++) {
    checkUrl(url, options.allowLoopback);
    let request = new Request(url, {
      headers: { accept: options.accept, ...(options.userAgent ? { "user-agent": options.userAgent } : {}) },
    });
    // Signed per hop: the signature covers the target.
    if (options.sign) request = await options.sign(request);
    const res = await requestOnce(url, request.headers, options.allowLoopback, options.maxBytes, signal);
    if (res.location) {
      if (hop >= maxRedirects) throw new FetchRefused("too many redirects");
      url = new URL(res.location, url);
      continue;
    }
    return { url, status: res.status, headers: res.headers, body: res.body };
  }
}

/** Largest ActivityPub document we read (notes, actors, outbox pages). */
export const MAX_DOCUMENT_BYTES = 1024 * 1024;
const AP_ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"';

/**
 * A Fedify document loader on top of `safeFetch`: JSON only, at most MAX_DOCUMENT_BYTES, every redirect hop checked.
 * Used for what we fetch ourselves (notes by id, outboxes); malformed or oversized documents throw.
 */
export function safeDocumentLoader(options: Omit<SafeFetchOptions, "accept" | "maxBytes">): DocumentLoader {
  return async (url: string) => {
    const res = await safeFetch(url, { ...options, accept: AP_ACCEPT, maxBytes: MAX_DOCUMENT_BYTES });
    if (res.status !== 200) throw new FetchRefused(`HTTP ${res.status} for ${url}`);
    const type = res.headers.get("content-type") ?? "";
    if (!/json/i.test(type)) throw new FetchRefused(`not a JSON document: ${type}`);
    let document: unknown;
    try {
      document = JSON.parse(res.body.toString("utf8"));
    } catch {
      throw new FetchRefused(`malformed JSON at ${url}`);
    }
    if (typeof document !== "object" || document === null || Array.isArray(document)) throw new FetchRefused(`not a JSON object at ${url}`);
    return { contextUrl: null, documentUrl: res.url.href, document };
  };
}
