import http from "node:http";
import https from "node:https";
import { guardedLookup, literalRefusal, type AddressPolicy } from "./address.ts";

export type SendResult = { ok: true; status: number } | { ok: false; status: number | null; error: string };

/**
 * One POST to a webhook: to the addresses the guard allows only, no redirects followed (a 3xx is a failure), the
 * response body ignored, and the whole exchange bounded by `timeoutMs` (connect, TLS, headers).
 */
export function postWebhook(
  target: URL,
  body: string,
  headers: Record<string, string>,
  options: AddressPolicy & { timeoutMs: number },
): Promise<SendResult> {
  const refused = literalRefusal(target, options);
  if (refused) return Promise.resolve({ ok: false, status: null, error: [refused.message, refused.hint].filter(Boolean).join(": ") });
  const client = target.protocol === "https:" ? https : target.protocol === "http:" ? http : null;
  if (!client) return Promise.resolve({ ok: false, status: null, error: `unsupported scheme ${target.protocol}` });
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: SendResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const request = client.request(target, {
      method: "POST",
      headers: { ...headers, "content-length": String(Buffer.byteLength(body)) },
      lookup: guardedLookup(target.protocol, options) as unknown as http.RequestOptions["lookup"],
      agent: false,
    });
    const timer = setTimeout(() => {
      request.destroy();
      finish({ ok: false, status: null, error: `timed out after ${options.timeoutMs} ms` });
    }, options.timeoutMs);
    request.on("response", (response) => {
      const status = response.statusCode ?? 0;
      // Nothing of the response body is needed: drop the connection instead of reading an unbounded stream.
      response.destroy();
      request.destroy();
      if (status >= 200 && status < 300) finish({ ok: true, status });
      else if (status >= 300 && status < 400) finish({ ok: false, status, error: `HTTP ${status} (redirects are not followed)` });
      else finish({ ok: false, status, error: `HTTP ${status}` });
    });
    request.on("error", (error: NodeJS.ErrnoException) => {
      finish({ ok: false, status: null, error: [error.code, error.message].filter(Boolean).join(": ").slice(0, 300) });
    });
    request.end(body);
  });
}
