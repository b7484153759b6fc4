import { createHmac, timingSafeEqual } from "node:crypto";
import { getLogger } from "@logtape/logtape";
import { isAllowedAddress } from "../../net/address.ts";
import { FetchRefused, pinnedFetch } from "../../net/pinned-fetch.ts";
import { createSemaphore } from "./semaphore.ts";

/**
 * A signed image proxy (like Mastodon's): the web pages show fediverse images and avatars through our origin, so a
 * visitor's browser never talks to a third-party server. Only URLs we signed are fetched (the HMAC makes the route
 * useless as an open proxy), through the SSRF-safe pinned fetch, and only image bytes come back.
 */

/** Image types passed through; everything else (HTML, SVG, scripts) is refused. */
export const PROXY_CONTENT_TYPES = new Set(["image/jpeg", "image/png", "image/webp", "image/gif", "image/avif"]);
export const PROXY_MAX_BYTES = 10 * 1024 * 1024;
const PROXY_TIMEOUT_MS = 15_000;
/** Longest encoded URL accepted (a URL that long is not an image link we made). */
const MAX_ENCODED = 4096;
/** Bytes of HMAC kept in the path: 128 bits is plenty against forgery and keeps URLs short. */
const SIG_BYTES = 16;
/** Upstream fetches in flight per process: each holds up to maxBytes in memory until it is answered. */
const CONCURRENT_FETCHES = 16;

export type MediaProxyOptions = {
  /** The API key pepper; the signing key is derived from it with a fixed label, so it is never used as is. */
  secret: string;
  publicUrl: URL;
  /** ALLOW_PRIVATE_ADDRESS: loopback may be fetched (development and tests only), as in federation. */
  allowPrivate: boolean;
  userAgent: string;
  maxBytes?: number;
  timeoutMs?: number;
  /** The federation policy: a URL on a domain that is suspended or whose media is rejected is never fetched. */
  policy?: { verdict(url: string): Promise<{ refused: boolean; rejectMedia: boolean }> };
};

/** Named as the route reports them. */
export type ProxyFailure = "not_found" | "media_rejected" | "upstream_unavailable" | "upstream_not_image" | "upstream_too_large";
export type ProxyResult = { ok: true; contentType: string; body: Buffer } | { ok: false; reason: ProxyFailure };

export function createMediaProxy(options: MediaProxyOptions) {
  const key = createHmac("sha256", options.secret).update("clawgram media proxy v1").digest();
  const origin = options.publicUrl.origin;
  const log = getLogger(["clawgram", "media-proxy"]);
  const slots = createSemaphore(CONCURRENT_FETCHES);
  const sign = (url: string) => createHmac("sha256", key).update(url).digest().subarray(0, SIG_BYTES);

  /** The absolute proxied URL of `remoteUrl` on our origin. */
  function urlFor(remoteUrl: string): string {
    return `${origin}/media/proxy/${sign(remoteUrl).toString("base64url")}/${Buffer.from(remoteUrl).toString("base64url")}`;
  }

  /** The URL a signed path names, or null when the signature does not match (checked in constant time). */
  function verify(sig: string, encoded: string): string | null {
    if (encoded.length === 0 || encoded.length > MAX_ENCODED || !/^[A-Za-z0-9_-]+$/.test(encoded)) return null;
    const url = Buffer.from(encoded, "base64url").toString("utf8");
    // Only the canonical encoding we produce is accepted, so one URL has one proxied path.
    if (Buffer.from(url).toString("base64url") !== encoded) return null;
    const given = /^[A-Za-z0-9_-]+$/.test(sig) ? Buffer.from(sig, "base64url") : Buffer.alloc(0);
    const expected = sign(url);
    return given.length === expected.length && timingSafeEqual(given, expected) ? url : null;
  }

  async function open(sig: string, encoded: string): Promise<ProxyResult> {
    const url = verify(sig, encoded);
    if (url === null) return { ok: false, reason: "not_found" };
    // Checked at fetch time, not when the URL was signed: a block applies to links handed out before it.
    if (options.policy) {
      const verdict = await options.policy.verdict(url);
      if (verdict.refused || verdict.rejectMedia) return { ok: false, reason: "media_rejected" };
    }
    try {
      const res = await slots(() =>
        pinnedFetch(url, {
          isAllowed: (address) => isAllowedAddress(address, options.allowPrivate),
          headers: { accept: [...PROXY_CONTENT_TYPES].join(", "), "user-agent": options.userAgent },
          maxBytes: options.maxBytes ?? PROXY_MAX_BYTES,
          timeoutMs: options.timeoutMs ?? PROXY_TIMEOUT_MS,
        }),
      );
      if (res.status < 200 || res.status >= 300) return { ok: false, reason: "upstream_unavailable" };
      const contentType = (res.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
      if (!PROXY_CONTENT_TYPES.has(contentType)) return { ok: false, reason: "upstream_not_image" };
      return { ok: true, contentType, body: res.body };
    } catch (error) {
      if (error instanceof FetchRefused && error.reason === "too_large") return { ok: false, reason: "upstream_too_large" };
      log.debug("Media proxy fetch of {url} failed: {error}", { url, error });
      return { ok: false, reason: "upstream_unavailable" };
    }
  }

  return { urlFor, verify, open };
}

export type MediaProxy = ReturnType<typeof createMediaProxy>;
