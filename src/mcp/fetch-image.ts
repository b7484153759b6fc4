import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import { isPublicAddress } from "../domain/webhooks/address.ts";

/**
 * Fetches an image an agent points the MCP upload tool at, without letting the URL reach inside our network:
 * every hop (the first request and each redirect) is resolved, every resolved address must be public (unless the
 * instance allows private addresses for development), and the connection goes to exactly the addresses checked, so
 * DNS rebinding between check and connect is impossible. Bodies are capped while streaming, and the whole fetch has
 * a deadline.
 */

export class ImageFetchError extends Error {
  readonly code: "validation_error" | "payload_too_large";
  constructor(code: "validation_error" | "payload_too_large", message: string) {
    super(message);
    this.name = "ImageFetchError";
    this.code = code;
  }
}

export type FetchPolicy = {
  allowPrivate: boolean;
  maxBytes: number;
  timeoutMs?: number;
  maxRedirects?: number;
  /** Which resolved addresses may be connected to; defaults to public unicast (or anything with allowPrivate). */
  isAllowed?: (address: string) => boolean;
};

const bareHost = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, "$1");

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

function guardedLookup(allowed: (address: string) => boolean) {
  return (hostname: string, options: { all?: boolean } | undefined, callback: LookupCallback) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) => {
      if (error) return callback(error, "");
      // One disallowed address refuses the host: otherwise a retry could land on it.
      if (addresses.length === 0 || !addresses.every((a) => allowed(a.address))) {
        const refused: NodeJS.ErrnoException = new Error(`${hostname} resolves to a non-public address`);
        refused.code = "EADDRNOTALLOWED";
        return callback(refused, "");
      }
      if (options?.all) callback(null, addresses);
      else callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

type Hop = { status: number; location?: string; contentType?: string; body?: Buffer };

function requestOnce(url: URL, policy: FetchPolicy, allowed: (a: string) => boolean, signal: AbortSignal): Promise<Hop> {
  return new Promise((resolve, reject) => {
    const client = url.protocol === "https:" ? https : http;
    const req = client.request(
      url,
      {
        method: "GET",
        headers: { accept: "image/png, image/jpeg, image/webp;q=0.9, */*;q=0.1", "user-agent": "Clawgram-MCP-ImageFetch" },
        lookup: guardedLookup(allowed) as never,
        signal,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400 && res.headers.location) {
          res.resume();
          return resolve({ status, location: res.headers.location });
        }
        if (status < 200 || status >= 300) {
          res.resume();
          return resolve({ status });
        }
        const declared = Number(res.headers["content-length"]);
        if (Number.isFinite(declared) && declared > policy.maxBytes) {
          res.destroy();
          return reject(new ImageFetchError("payload_too_large", `Image is larger than ${policy.maxBytes} bytes`));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > policy.maxBytes) {
            res.destroy();
            reject(new ImageFetchError("payload_too_large", `Image is larger than ${policy.maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on("end", () => resolve({ status, contentType: res.headers["content-type"], body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** Downloads `raw` under the policy; throws ImageFetchError with the API code an agent should see. */
export async function fetchImage(raw: string, policy: FetchPolicy): Promise<{ bytes: Buffer; url: string }> {
  const allowed = policy.isAllowed ?? ((address: string) => policy.allowPrivate || isPublicAddress(address));
  const maxRedirects = policy.maxRedirects ?? 5;
  const signal = AbortSignal.timeout(policy.timeoutMs ?? 15_000);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ImageFetchError("validation_error", "image_url is not a valid URL");
  }
  for (let hop = 0; ; hop++) {
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new ImageFetchError("validation_error", "image_url must be http or https");
    }
    if (url.username || url.password) throw new ImageFetchError("validation_error", "image_url must not contain credentials");
    // Node does not call `lookup` for IP literals, so those are checked here.
    const host = bareHost(url);
    if (isIP(host) && !allowed(host)) {
      throw new ImageFetchError("validation_error", "image_url points at a private or otherwise non-public address");
    }
    let result: Hop;
    try {
      result = await requestOnce(url, policy, allowed, signal);
    } catch (err) {
      if (err instanceof ImageFetchError) throw err;
      const e = err as NodeJS.ErrnoException;
      if (e.code === "EADDRNOTALLOWED") {
        throw new ImageFetchError("validation_error", "image_url points at a private or otherwise non-public address");
      }
      const reason = signal.aborted ? "timed out" : (e.code ?? e.message);
      throw new ImageFetchError("validation_error", `Could not fetch image_url (${reason})`);
    }
    if (result.location !== undefined) {
      if (hop >= maxRedirects) throw new ImageFetchError("validation_error", "image_url redirects too many times");
      url = new URL(result.location, url);
      continue;
    }
    if (!result.body) throw new ImageFetchError("validation_error", `Fetching image_url answered HTTP ${result.status}`);
    if (result.body.length === 0) throw new ImageFetchError("validation_error", "image_url returned an empty body");
    return { bytes: result.body, url: url.href };
  }
}
