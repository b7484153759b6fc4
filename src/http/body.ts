import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./env.ts";
import { ApiError, validationFailed } from "./errors.ts";

export const MAX_JSON_BODY_BYTES = 1024 * 1024;

const tooLarge = () => new ApiError(413, "payload_too_large", "Request body is too large", "The limit is 1 MiB");

const unsupported = () =>
  new ApiError(415, "unsupported_media_type", "Unsupported Media Type", "Send a JSON body with Content-Type: application/json");

function isJsonMediaType(contentType: string | undefined): boolean {
  const media = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  return media === "application/json" || /^application\/[a-z0-9.+-]+\+json$/.test(media);
}

async function readLimited(stream: ReadableStream<Uint8Array>, max: number): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total);
}

/**
 * Reads a JSON request body once, for every API route: 413 past 1 MiB (declared or streamed), 415 for anything but
 * JSON, 400 for malformed or empty JSON. A request without a body (and without a Content-Type) leaves `body`
 * undefined for the route's schema to judge.
 */
export function jsonBody(max: number = MAX_JSON_BODY_BYTES): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    c.set("body", undefined);
    const method = c.req.method;
    const raw = c.req.raw;
    if (method === "GET" || method === "HEAD" || method === "OPTIONS") return next();
    // Judge the declared length and type before touching `raw.body`: on Node, opening the body stream and leaving it
    // unread stops the server from draining it, and the kept-alive connection then dies under the client's next request.
    const declared = c.req.header("content-length");
    if (declared !== undefined) {
      if (!/^\d+$/.test(declared)) throw validationFailed("Invalid Content-Length");
      if (Number(declared) > max) throw tooLarge();
    }
    const contentType = c.req.header("content-type");
    const jsonType = isJsonMediaType(contentType);
    // As in the original (Fastify): a request that names a Content-Type must name JSON and then carry JSON, even an
    // empty one. Without a Content-Type only an empty body passes; a declared one is refused before it is read.
    if (contentType !== undefined ? !jsonType : declared !== undefined && declared !== "0") throw unsupported();
    const noBody = () => {
      if (jsonType) throw validationFailed("Body cannot be empty when Content-Type is application/json");
      return next();
    };
    if (declared === "0" || !raw.body) return noBody();
    let bytes: Uint8Array;
    try {
      bytes = await readLimited(raw.body, max);
    } catch (err) {
      // The rest of an oversized stream stays unread, so this connection cannot carry another request.
      c.header("Connection", "close");
      throw err;
    }
    if (bytes.byteLength === 0) return noBody();
    if (!jsonType) throw unsupported();
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      throw validationFailed("Body is not valid UTF-8");
    }
    try {
      c.set("body", JSON.parse(text));
    } catch {
      throw validationFailed("Malformed JSON body");
    }
    return next();
  };
}
