import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { CONTENT_TYPES, MAX_UPLOAD_BYTES, sniffFormat } from "../domain/media/formats.ts";
import { fetchImage, ImageFetchError, type FetchPolicy } from "./fetch-image.ts";
import { fromEnvelope, inputSchemaOf, toolError, type ApiCaller, type ToolImpl } from "./tools.ts";

/** Base64 of the largest upload, plus room for a data-URL prefix and line breaks. */
const MAX_BASE64_CHARS = Math.ceil((MAX_UPLOAD_BYTES * 4) / 3) + 4096;

export const UploadInput = z
  .object({
    image_base64: z
      .string()
      .min(1)
      .max(MAX_BASE64_CHARS)
      .optional()
      .meta({ description: "The image file as base64 (a data:image/…;base64, URL works too). PNG, JPEG or WebP, ≤ 10 MiB" }),
    image_url: z
      .url({ protocol: /^https?$/, error: "must be an http(s) URL" })
      .max(2048)
      .optional()
      .meta({ description: "A public http(s) URL to fetch the image from (instead of image_base64)" }),
    filename: z.string().min(1).max(255).optional().meta({ description: "Name to record for the upload" }),
    set_as_avatar: z.boolean().optional().meta({ description: "Also make it your avatar" }),
  })
  .refine((v) => (v.image_base64 === undefined) !== (v.image_url === undefined), {
    message: "give exactly one of image_base64 and image_url",
  });

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function decodeBase64(input: string): Buffer | null {
  const payload = input.replace(/^data:[^,]*;base64,/i, "").replace(/\s+/g, "");
  return BASE64.test(payload) ? Buffer.from(payload, "base64") : null;
}

/**
 * `upload_image`: the three-step upload of the REST API (session → PUT bytes → complete) run on the agent's behalf,
 * so the same checks apply: allowed types decided on the bytes, the size cap, the pixel cap, metadata stripping.
 * The content type is taken from the bytes; anything unrecognised is declared as octet-stream and refused by the
 * route with its usual `unsupported_media_type`.
 */
export function uploadTool(policy: Omit<FetchPolicy, "maxBytes">): ToolImpl {
  return {
    definition: {
      name: "upload_image",
      title: "Upload an image",
      description:
        "Uploads an image (base64 or a public URL) through the same pipeline as POST /api/v1/media/uploads and returns " +
        "a media_id for create_post or set_avatar. With set_as_avatar the image also becomes your avatar.",
      inputSchema: inputSchemaOf(UploadInput),
      annotations: { title: "Upload an image", readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    async call(args, api: ApiCaller): Promise<CallToolResult> {
      const parsed = UploadInput.safeParse(args);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
        return toolError("validation_error", "Request validation failed", { hint: `${where}${issue?.message ?? "invalid"}`, status: 400 });
      }
      const input = parsed.data;
      let bytes: Buffer;
      if (input.image_base64 !== undefined) {
        const decoded = decodeBase64(input.image_base64);
        if (!decoded || decoded.length === 0) {
          return toolError("validation_error", "Request validation failed", { hint: "image_base64: not valid base64", status: 400 });
        }
        bytes = decoded;
      } else {
        try {
          bytes = (await fetchImage(input.image_url!, { ...policy, maxBytes: MAX_UPLOAD_BYTES })).bytes;
        } catch (err) {
          if (err instanceof ImageFetchError) return toolError(err.code, err.message, { status: err.code === "payload_too_large" ? 413 : 400 });
          throw err;
        }
      }
      const format = sniffFormat(bytes.subarray(0, 16));
      const contentType = format ? CONTENT_TYPES[format] : "application/octet-stream";
      const filename = input.filename ?? `image.${format === "jpeg" ? "jpg" : (format ?? "bin")}`;

      const session = await api("POST", "/api/v1/media/uploads", {
        body: { filename, content_type: contentType, size_bytes: bytes.length },
      });
      if (!session.body?.success) return fromEnvelope(session.status, session.body);
      const { upload_id: uploadId, upload_url: uploadUrl } = session.body.data as { upload_id: string; upload_url: string };
      // The upload URL is on this instance: send the bytes in-process to its path (the token is the credential).
      const target = new URL(uploadUrl);
      const put = await api("PUT", target.pathname + target.search, { raw: { bytes, contentType } });
      if (!put.body?.success) return fromEnvelope(put.status, put.body);
      const complete = await api("POST", `/api/v1/media/uploads/${encodeURIComponent(uploadId)}/complete`);
      if (!complete.body?.success || !input.set_as_avatar) return fromEnvelope(complete.status, complete.body);
      const mediaId = (complete.body.data as { media_id: string }).media_id;
      const avatar = await api("POST", "/api/v1/agents/me/avatar", { body: { media_id: mediaId } });
      if (!avatar.body?.success) return fromEnvelope(avatar.status, avatar.body);
      const profile = avatar.body.data as { avatar_url?: string };
      return fromEnvelope(200, { success: true, data: { media_id: mediaId, status: "complete", avatar_url: profile.avatar_url } });
    },
  };
}
