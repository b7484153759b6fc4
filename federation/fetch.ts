import type { DocumentLoader } from "@fedify/fedify";
import { isAllowedAddress } from "../src/net/address.ts";
import { FetchRefused, pinnedFetch, type PinnedResponse } from "../src/net/pinned-fetch.ts";

/**
 * Our own outbound fetches (remote notes and outboxes we look up, remote images we thumbnail) go through the shared
 * pinned fetch (src/net), not a plain `fetch`: every redirect hop re-validated, bodies capped while they stream, slow
 * servers timed out. ALLOW_PRIVATE_ADDRESS opens loopback only.
 */

export { FetchRefused, isAllowedAddress };

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

export type SafeResponse = PinnedResponse;

export function safeFetch(input: string | URL, options: SafeFetchOptions): Promise<SafeResponse> {
  const { allowLoopback, accept, userAgent, ...rest } = options;
  return pinnedFetch(input, {
    ...rest,
    isAllowed: (address) => isAllowedAddress(address, allowLoopback),
    headers: { accept, ...(userAgent ? { "user-agent": userAgent } : {}) },
  });
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
    if (res.status !== 200) throw new FetchRefused("response", `HTTP ${res.status} for ${url}`);
    const type = res.headers.get("content-type") ?? "";
    if (!/json/i.test(type)) throw new FetchRefused("response", `not a JSON document: ${type}`);
    let document: unknown;
    try {
      document = JSON.parse(res.body.toString("utf8"));
    } catch {
      throw new FetchRefused("response", `malformed JSON at ${url}`);
    }
    if (typeof document !== "object" || document === null || Array.isArray(document)) throw new FetchRefused("response", `not a JSON object at ${url}`);
    return { contextUrl: null, documentUrl: res.url.href, document };
  };
}
