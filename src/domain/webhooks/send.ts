import { FetchRefused, pinnedFetch } from "../../net/pinned-fetch.ts";
import { webhookAddressAllowed, type AddressPolicy } from "./address.ts";

export type SendResult = { ok: true; status: number } | { ok: false; status: number | null; error: string };

/**
 * One POST to a webhook through the shared pinned fetch (src/net): to checked addresses only, no redirects followed
 * (a 3xx is a failure), the response body never read, and the whole exchange bounded by `timeoutMs`.
 */
export async function postWebhook(
  target: URL,
  body: string,
  headers: Record<string, string>,
  options: AddressPolicy & { timeoutMs: number },
): Promise<SendResult> {
  try {
    const { status } = await pinnedFetch(target, {
      isAllowed: webhookAddressAllowed(options),
      method: "POST",
      headers,
      body,
      maxBytes: 0,
      readBody: false,
      maxRedirects: 0,
      timeoutMs: options.timeoutMs,
    });
    if (status >= 200 && status < 300) return { ok: true, status };
    if (status >= 300 && status < 400) return { ok: false, status, error: `HTTP ${status} (redirects are not followed)` };
    return { ok: false, status, error: `HTTP ${status}` };
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    const text = error instanceof FetchRefused ? e.message : [e.code, e.message].filter(Boolean).join(": ");
    return { ok: false, status: null, error: text.slice(0, 300) };
  }
}
