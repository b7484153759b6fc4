import type { LookupAddress } from "node:dns";
import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import { bareHost, isLocalhostName, resolveHost } from "./address.ts";

/**
 * Outbound HTTP(S) to URLs someone else chose, without letting them reach inside our network. For every hop (the
 * first request and each redirect): http(s) only, no credentials in the URL, the host resolved and EVERY address it
 * resolves to checked (one bad address refuses the host, so a retry can't land on it), and the socket connects only to
 * an address that was checked (our `lookup` hands Node exactly those), so DNS rebinding between check and connect is
 * impossible. No connection pooling: a socket opened under one policy is never reused under another. Bodies are
 * capped while they stream, and the whole exchange (every hop, DNS included) has one deadline.
 */

/** `response`: the caller found the answer unacceptable (wrong status or content); the rest are ours. */
export type RefusalReason = "scheme" | "credentials" | "address" | "redirects" | "too_large" | "timeout" | "response";

/** The request was refused by policy (not a network failure, which surfaces as Node's own error). */
export class FetchRefused extends Error {
  readonly reason: RefusalReason;
  constructor(reason: RefusalReason, message: string) {
    super(message);
    this.name = "FetchRefused";
    this.reason = reason;
  }
}

export type PinnedFetchOptions = {
  /** Whether a resolved (or literal) address may be connected to for this hop's URL. */
  isAllowed: (address: string, url: URL) => boolean;
  method?: "GET" | "POST";
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Largest response body accepted; more (declared or streamed) throws FetchRefused("too_large"). */
  maxBytes: number;
  /** Deadline for the whole exchange, redirects included. Default 15 s. */
  timeoutMs?: number;
  /** Redirects followed, each re-validated; one more throws. 0: a 3xx is returned as is, never followed. Default 5. */
  maxRedirects?: number;
  /** false: the body is never read (the connection is dropped after the headers) and comes back empty. */
  readBody?: boolean;
  /** Prepares each hop's request (e.g. an HTTP signature, which covers the target, so it is made per hop). */
  sign?: (request: Request) => Promise<Request>;
};

export type PinnedResponse = { url: URL; status: number; headers: Headers; body: Buffer };

const redirectStatus = (status: number) => status >= 300 && status < 400;

/** Checks what can be checked without a socket; Node skips `lookup` for IP literals, so those are judged here. */
function checkUrl(url: URL, isAllowed: PinnedFetchOptions["isAllowed"]): void {
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new FetchRefused("scheme", `unsupported scheme ${url.protocol}`);
  if (url.username || url.password) throw new FetchRefused("credentials", "credentials in URL");
  const host = bareHost(url);
  if (isIP(host) && !isAllowed(host, url)) throw new FetchRefused("address", `${host} is a disallowed address`);
  if (isLocalhostName(host) && !isAllowed("127.0.0.1", url)) throw new FetchRefused("address", `${host} resolves to a disallowed address`);
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A `lookup` for http(s).request that hands the socket only addresses that passed the check. */
function pinnedLookup(url: URL, isAllowed: PinnedFetchOptions["isAllowed"]) {
  return (hostname: string, options: { all?: boolean } | undefined, callback: LookupCallback) => {
    resolveHost(hostname).then(
      (addresses) => {
        if (addresses.length === 0 || !addresses.every((a) => isAllowed(a.address, url))) {
          callback(new FetchRefused("address", `${hostname} resolves to a disallowed address`), "");
        } else if (options?.all) callback(null, addresses);
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, ""),
    );
  };
}

function headersOf(res: http.IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (typeof value === "string") headers.set(name, value);
    else if (Array.isArray(value)) for (const v of value) headers.append(name, v);
  }
  return headers;
}

function requestOnce(url: URL, headers: Record<string, string>, options: PinnedFetchOptions, signal: AbortSignal): Promise<PinnedResponse> {
  const { maxBytes } = options;
  return new Promise((resolve, reject) => {
    const client = url.protocol === "https:" ? https : http;
    const body = options.body;
    const req = client.request(
      url,
      {
        method: options.method ?? "GET",
        headers: body === undefined ? headers : { ...headers, "content-length": String(Buffer.byteLength(body)) },
        lookup: pinnedLookup(url, options.isAllowed) as never,
        agent: false,
        signal,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const done = (bytes: Buffer) => resolve({ url, status, headers: headersOf(res), body: bytes });
        // Only a 2xx body is ever used; anything else (and every body with readBody: false) is dropped unread.
        if (options.readBody === false || status < 200 || status >= 300) {
          res.destroy();
          req.destroy();
          return done(Buffer.alloc(0));
        }
        const declared = Number(res.headers["content-length"]);
        if (Number.isFinite(declared) && declared > maxBytes) {
          res.destroy();
          return reject(new FetchRefused("too_large", `response of ${declared} bytes exceeds ${maxBytes}`));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            res.destroy();
            reject(new FetchRefused("too_large", `response exceeds ${maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on("end", () => done(Buffer.concat(chunks)));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

export async function pinnedFetch(input: string | URL, options: PinnedFetchOptions): Promise<PinnedResponse> {
  let url = new URL(input);
  const maxRedirects = options.maxRedirects ?? 5;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const signal = AbortSignal.timeout(timeoutMs);
  for (let hop = 0; ; hop++) {
    checkUrl(url, options.isAllowed);
    let headers = options.headers ?? {};
    if (options.sign) {
      const signed = await options.sign(new Request(url, { method: options.method ?? "GET", headers }));
      headers = Object.fromEntries(signed.headers);
    }
    let res: PinnedResponse;
    try {
      res = await requestOnce(url, headers, options, signal);
    } catch (error) {
      if (signal.aborted && !(error instanceof FetchRefused)) throw new FetchRefused("timeout", `timed out after ${timeoutMs} ms`);
      throw error;
    }
    const location = res.headers.get("location");
    if (!redirectStatus(res.status) || location === null || maxRedirects === 0) return res;
    if (hop >= maxRedirects) throw new FetchRefused("redirects", "too many redirects");
    try {
      url = new URL(location, url);
    } catch {
      throw new FetchRefused("redirects", "invalid redirect location");
    }
  }
}
