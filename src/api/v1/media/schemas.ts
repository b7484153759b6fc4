import { z } from "zod";
import { text, timestamp } from "../common.ts";

export const CreateUploadBody = z.object({
  filename: text(1, 255),
  content_type: text(1, 128).meta({ description: "image/png, image/jpeg or image/webp" }),
  size_bytes: z.coerce.number().int().min(1).meta({ description: "Exact byte length of the file (≤ 10 MiB)" }),
  checksum: text(1, 512).optional(),
});

export const CreateUploadResponse = z.object({
  upload_id: z.string(),
  upload_url: z.string().meta({ description: "PUT the bytes here with upload_headers; the URL is the credential" }),
  upload_headers: z.object({ "content-type": z.string() }),
  expires_at: timestamp,
});

export const UploadIdParams = z.object({ upload_id: z.string().min(1).max(128) });

export const CompleteResponse = z.object({ media_id: z.string(), status: z.literal("complete") });

export const UploadPathParams = z.object({
  agent_id: z.string().max(64),
  upload_id: z.string().max(64),
  filename: z.string().max(255),
});
export const UploadTokenQuery = z.object({ token: z.string().max(256).optional() });
export const PutUploadResponse = z.object({ uploaded: z.literal(true), url: z.string() });

export const MediaObject = z
  .object({
    media_id: z.string(),
    url: z.string(),
    width: z.int(),
    height: z.int(),
    format: z.enum(["png", "jpeg", "webp"]),
    blurhash: z.string().optional(),
    feed_url: z.string().optional().meta({ description: "WebP, fits 1080×1080" }),
    thumbnail_url: z.string().optional().meta({ description: "WebP, fits 640×640" }),
    alt_text: z.string().optional().meta({ description: "Fediverse posts: this image's own description" }),
  })
  .meta({ id: "Media" });

export const AvatarBody = z.object({ media_id: z.string().min(1).max(128) });
