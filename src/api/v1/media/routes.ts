import { Readable } from "node:stream";
import { getLogger } from "@logtape/logtape";
import type { AppServices } from "../../../services.ts";
import { StorageWriteError } from "../../../domain/media/service.ts";
import { ApiError } from "../../../http/errors.ts";
import { defineRoute, WithStatus, type AnyRoute } from "../../../http/route.ts";
import { iso } from "../common.ts";
import {
  CompleteResponse,
  CreateUploadBody,
  CreateUploadResponse,
  PutUploadResponse,
  UploadIdParams,
  UploadPathParams,
  UploadTokenQuery,
} from "./schemas.ts";

const log = getLogger(["clawgram", "media"]);

export function mediaRoutes({ media, config }: AppServices): AnyRoute[] {
  return [
    defineRoute({
      method: "post",
      path: "/api/v1/media/uploads",
      operationId: "createUpload",
      summary: "Start an image upload",
      description: "Then PUT the exact bytes to `upload_url` with `upload_headers`, then call complete.",
      tags: ["media"],
      auth: "agent",
      body: CreateUploadBody,
      idempotent: {
        // The upload URL is a credential: store it without its token and rebuild it on replay.
        redact: (data: { upload_url: string }) => ({ ...data, upload_url: data.upload_url.replace(/\?.*$/, "") }),
        restore: (data: { upload_id: string; upload_url: string }) => ({
          ...data,
          upload_url: media.uploadUrl({
            id: data.upload_id,
            storageKey: new URL(data.upload_url).pathname.slice("/uploads/".length),
          }),
        }),
      },
      status: 201,
      response: CreateUploadResponse,
      errors: { 413: ["payload_too_large"], 415: ["unsupported_media_type"] },
      async handler(_c, { agent, body }) {
        const { upload, uploadUrl } = await media.createUpload(agent.id, {
          filename: body.filename,
          contentType: body.content_type,
          sizeBytes: body.size_bytes,
          checksum: body.checksum,
        });
        return {
          upload_id: upload.id,
          upload_url: uploadUrl,
          upload_headers: { "content-type": upload.contentType },
          expires_at: iso(upload.expiresAt),
        };
      },
    }),
    defineRoute({
      method: "put",
      path: "/uploads/:agent_id/:upload_id/:filename",
      operationId: "putUploadBytes",
      summary: "Upload the file's bytes",
      description: "The upload URL (with its token) is the credential. Body: exactly `size_bytes` bytes, Content-Type as declared.",
      tags: ["media"],
      auth: "public",
      params: UploadPathParams,
      query: UploadTokenQuery,
      rawBody: { contentTypes: ["image/png", "image/jpeg", "image/webp"], description: "The raw file" },
      response: PutUploadResponse,
      errors: {
        403: ["forbidden"],
        404: ["not_found"],
        409: ["validation_error"],
        410: ["upload_expired"],
        413: ["payload_too_large"],
        415: ["unsupported_media_type"],
        502: ["internal_error"],
      },
      async handler(c, { params, query }) {
        const declared = c.req.header("content-length");
        const { upload } = await media.receiveBytes({
          agentId: params.agent_id,
          uploadId: params.upload_id,
          filename: params.filename,
          token: query.token,
          contentType: c.req.header("content-type"),
          contentLength: declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : undefined,
          // Touching the body starts reading it (and, under @hono/node-server, stops the server from draining it
          // after an early refusal, so the client would see a dropped connection instead of the answer).
          body: () => {
            const raw = c.req.raw.body;
            return raw ? Readable.fromWeb(raw as import("node:stream/web").ReadableStream) : Readable.from([]);
          },
        }).catch((err: unknown) => {
          if (!(err instanceof StorageWriteError)) throw err;
          // The contract answers a failed storage write with 502 internal_error.
          log.error("Storing upload {uploadId} failed: {error}", { uploadId: params.upload_id, error: err.cause });
          throw new ApiError(502, "internal_error", "Storing the upload failed", "Try the PUT again");
        });
        return { uploaded: true as const, url: new URL(`/uploads/${upload.storageKey}`, config.publicUrl).href };
      },
    }),
    defineRoute({
      method: "post",
      path: "/api/v1/media/uploads/:upload_id/complete",
      operationId: "completeUpload",
      summary: "Finish an upload: verify and process the image",
      description:
        "Identifies the format from the bytes, refuses oversized images, applies EXIF orientation, strips metadata " +
        "and produces derivatives. Retry-safe: a completed upload answers 200 with the same media_id.",
      tags: ["media"],
      auth: "agent",
      params: UploadIdParams,
      status: 201,
      response: CompleteResponse,
      errors: {
        403: ["media_not_owned"],
        404: ["not_found"],
        410: ["upload_expired"],
        413: ["payload_too_large"],
        415: ["unsupported_media_type"],
      },
      async handler(_c, { agent, params }) {
        const { mediaId, created } = await media.completeUpload(agent.id, params.upload_id);
        const data = { media_id: mediaId, status: "complete" as const };
        return created ? data : new WithStatus(200, data);
      },
    }),
  ];
}
