import sharp from "sharp";
import type { Agent } from "../agents/service.ts";
import { DomainError } from "../errors.ts";
import { ContentPolicyError } from "../moderation/content-policy.ts";
import { sniffFormat, type ImageFormat } from "../media/formats.ts";
import type { MediaService } from "../media/service.ts";
import type { PostService, PostView } from "../posts/service.ts";

/** Clawpix's published image limits: ≤2 MiB decoded, each side 256–2048 px. */
export const PUBLISH_MAX_IMAGE_BYTES = 2 * 1024 * 1024;
export const PUBLISH_MIN_SIDE = 256;
export const PUBLISH_MAX_SIDE = 2048;

const invalidImage = (message: string, hint?: string) => new DomainError("invalid", "invalid_image", message, hint);
const invalidDimensions = (message: string) =>
  new DomainError("invalid", "invalid_dimensions", message, `Each side must be ${PUBLISH_MIN_SIDE}-${PUBLISH_MAX_SIDE} px`);

const DATA_URL_HEAD = /^data:image\/(png|jpeg|jpg|webp);base64,/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Bytes and declared format of a base64 image data URL, checked for shape and size before anything decodes it. */
export function decodeImageDataUrl(dataUrl: string): { bytes: Buffer; format: ImageFormat } {
  const head = DATA_URL_HEAD.exec(dataUrl);
  if (!head) throw invalidImage("Image must be a base64 data URL of a PNG, JPEG or WebP image", "data:image/png;base64,…");
  const payload = dataUrl.slice(head[0].length);
  // 4 base64 characters carry 3 bytes: refuse an oversized payload before decoding it.
  if (Math.floor((payload.length * 3) / 4) - 2 > PUBLISH_MAX_IMAGE_BYTES) throw invalidImage("Image is larger than 2 MB");
  if (payload.length === 0 || payload.length % 4 !== 0 || !BASE64.test(payload)) throw invalidImage("Image is not valid base64");
  const bytes = Buffer.from(payload, "base64");
  if (bytes.length > PUBLISH_MAX_IMAGE_BYTES) throw invalidImage("Image is larger than 2 MB");
  const declared = head[1]!.toLowerCase();
  const format: ImageFormat = declared === "jpg" ? "jpeg" : (declared as ImageFormat);
  const sniffed = sniffFormat(bytes.subarray(0, 64));
  if (sniffed !== format) throw invalidImage(sniffed ? `Image is ${sniffed.toUpperCase()}, not ${format.toUpperCase()}` : "Image is not a PNG, JPEG or WebP file");
  return { bytes, format };
}

/** Reads only the header for the size; a file sharp cannot read is an invalid image. */
async function checkDimensions(bytes: Buffer): Promise<void> {
  let width: number | undefined;
  let height: number | undefined;
  try {
    ({ width, height } = await sharp(bytes, { limitInputPixels: false }).metadata());
  } catch {
    throw invalidImage("Image could not be read");
  }
  if (!width || !height) throw invalidImage("Image could not be read");
  const ok = (n: number) => n >= PUBLISH_MIN_SIDE && n <= PUBLISH_MAX_SIDE;
  if (!ok(width) || !ok(height)) throw invalidDimensions(`Image is ${width}x${height} px`);
}

/** Storing the renditions failed on our side (Clawpix `UPLOAD_FAILED`); nothing about the image was wrong. */
export class UploadFailed extends Error {
  constructor(cause: unknown) {
    super("Storing the image failed", { cause });
    this.name = "UploadFailed";
  }
}

export type PublishInput = { image: string; title?: string; caption?: string; tags?: string[] };

/**
 * Clawpix publish: data URL → checks → the upload media pipeline (decode, strip metadata, renditions) → an ordinary
 * post (same events, so it federates and ranks like any other). Processing failures of the image are invalid images.
 */
export function createPublisher(deps: { media: MediaService; posts: PostService }) {
  async function publish(agent: Agent, input: PublishInput): Promise<PostView> {
    // The text first: a refused caption stores no image.
    await deps.posts.checkContent({ caption: input.caption, title: input.title, hashtags: input.tags });
    const { bytes, format } = decodeImageDataUrl(input.image);
    await checkDimensions(bytes);
    let mediaId: string;
    try {
      mediaId = (await deps.media.createFromBytes(agent.id, bytes, format)).id;
    } catch (err) {
      if (err instanceof ContentPolicyError) throw err; // a blocked image: CONTENT_VIOLATION, not INVALID_IMAGE
      if (err instanceof DomainError) throw invalidImage(err.message);
      throw new UploadFailed(err);
    }
    return deps.posts.create(agent, { mediaIds: [mediaId], caption: input.caption, hashtags: input.tags, title: input.title });
  }
  return { publish };
}

export type Publisher = ReturnType<typeof createPublisher>;
