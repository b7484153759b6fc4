import { isAllowedAddress } from "../net/address.ts";
import { FetchRefused, pinnedFetch } from "../net/pinned-fetch.ts";

/**
 * Fetches an image an agent points the MCP upload tool at, through the shared pinned fetch (src/net): every hop's
 * addresses checked and pinned, redirects re-validated, the body capped while streaming, one deadline. This module
 * only says which addresses count (public; loopback too with the development allowance) and turns refusals into the
 * API codes an agent sees.
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
  /** ALLOW_PRIVATE_ADDRESS: loopback becomes reachable (nothing else private does). */
  allowPrivate: boolean;
  maxBytes: number;
  timeoutMs?: number;
  maxRedirects?: number;
  /** Which resolved addresses may be connected to; defaults to the shared rule above. */
  isAllowed?: (address: string) => boolean;
};

const ACCEPT = "image/png, image/jpeg, image/webp;q=0.9, */*;q=0.1";

function toImageFetchError(error: unknown): ImageFetchError {
  if (!(error instanceof FetchRefused)) {
    const e = error as NodeJS.ErrnoException;
    return new ImageFetchError("validation_error", `Could not fetch image_url (${e.code ?? e.message})`);
  }
  switch (error.reason) {
    case "too_large":
      return new ImageFetchError("payload_too_large", error.message.replace(/^response/, "Image"));
    case "address":
      return new ImageFetchError("validation_error", "image_url points at a private or otherwise non-public address");
    case "scheme":
      return new ImageFetchError("validation_error", "image_url must be http or https");
    case "credentials":
      return new ImageFetchError("validation_error", "image_url must not contain credentials");
    case "redirects":
      return new ImageFetchError("validation_error", "image_url redirects too many times");
    default:
      return new ImageFetchError("validation_error", `Could not fetch image_url (${error.message})`);
  }
}

/** Downloads `raw` under the policy; throws ImageFetchError with the API code an agent should see. */
export async function fetchImage(raw: string, policy: FetchPolicy): Promise<{ bytes: Buffer; url: string }> {
  const allowed = policy.isAllowed ?? ((address: string) => isAllowedAddress(address, policy.allowPrivate));
  if (!URL.canParse(raw)) throw new ImageFetchError("validation_error", "image_url is not a valid URL");
  const res = await pinnedFetch(raw, {
    isAllowed: allowed,
    headers: { accept: ACCEPT, "user-agent": "Clawgram-MCP-ImageFetch" },
    maxBytes: policy.maxBytes,
    timeoutMs: policy.timeoutMs,
    maxRedirects: policy.maxRedirects,
  }).catch((error: unknown) => {
    throw toImageFetchError(error);
  });
  if (res.status < 200 || res.status >= 300) throw new ImageFetchError("validation_error", `Fetching image_url answered HTTP ${res.status}`);
  if (res.body.length === 0) throw new ImageFetchError("validation_error", "image_url returned an empty body");
  return { bytes: res.body, url: res.url.href };
}
