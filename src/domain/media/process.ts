import { createHash } from "node:crypto";
import sharp, { type Metadata, type OutputInfo, type Sharp } from "sharp";
import { encode as encodeBlurhash } from "blurhash";
import { DomainError } from "../errors.ts";
import { CONTENT_TYPES, EXTENSIONS, sniffFormat, type ImageFormat } from "./formats.ts";

// libvips' operation cache keeps decoded images around; with untrusted inputs we'd rather keep memory flat.
sharp.cache(false);

export const THUMBNAIL_BOX = 640;
export const FEED_BOX = 1080;

export type Rendition = { name: "original" | "feed" | "thumbnail"; data: Buffer; width: number; height: number; contentType: string; ext: string };

export type ProcessedImage = {
  format: ImageFormat;
  width: number;
  height: number;
  blurhash: string;
  sha256: string;
  renditions: Rendition[];
};

const unsupported = (message: string) => new DomainError("unsupported", "unsupported_media_type", message);

/**
 * Turns untrusted upload bytes into what we store: the format is identified from the bytes and must match the
 * declared one; decompression bombs are refused before decoding; EXIF orientation is applied; every piece of metadata
 * except the ICC profile is dropped (re-encoding also discards anything appended, so polyglots don't survive);
 * WebP feed and thumbnail sizes and a blurhash are produced.
 */
export async function processImage(input: Buffer, declared: ImageFormat, options: { maxPixels: number }): Promise<ProcessedImage> {
  const sniffed = sniffFormat(input.subarray(0, 64));
  if (sniffed !== declared) {
    throw unsupported(sniffed ? `File is ${sniffed.toUpperCase()}, not the declared ${declared.toUpperCase()}` : "File is not a PNG, JPEG or WebP image");
  }
  let meta: Metadata;
  try {
    // Header only: nothing is decoded yet.
    meta = await sharp(input, { limitInputPixels: false }).metadata();
  } catch {
    throw unsupported("Image could not be read");
  }
  if (meta.format !== declared || !meta.width || !meta.height) throw unsupported("Image could not be read");
  if ((meta.pages ?? 1) > 1) throw unsupported("Animated images are not supported");
  const pixels = meta.width * meta.height;
  if (pixels > options.maxPixels) {
    throw new DomainError(
      "too_large",
      "payload_too_large",
      `Image is ${meta.width}x${meta.height} (${(pixels / 1e6).toFixed(1)} MP); the limit is ${(options.maxPixels / 1e6).toFixed(1)} MP`,
      "Downscale the image before uploading",
    );
  }

  try {
    const base = sharp(input, { limitInputPixels: options.maxPixels, failOn: "warning" }).autoOrient();
    const encodeOriginal = (img: Sharp) =>
      declared === "jpeg"
        ? img.jpeg({ quality: 90 })
        : declared === "png"
          ? img.png({ compressionLevel: 6 })
          : img.webp({ quality: 90 });
    // Two decodes in all: one for the re-encoded original, one into feed-sized pixels from which the smaller
    // renditions are cut (resizing 1080 px down is far cheaper than decoding the full image again).
    const [original, feedPixels] = await Promise.all([
      encodeOriginal(base.clone().keepIccProfile()).toBuffer({ resolveWithObject: true }),
      base.clone().resize(FEED_BOX, FEED_BOX, { fit: "inside", withoutEnlargement: true }).raw().toBuffer({ resolveWithObject: true }),
    ]);
    const fromFeed = () =>
      sharp(feedPixels.data, {
        raw: { width: feedPixels.info.width, height: feedPixels.info.height, channels: feedPixels.info.channels },
      });
    const [feed, thumbnail, tiny] = await Promise.all([
      fromFeed().webp({ quality: 85 }).toBuffer({ resolveWithObject: true }),
      fromFeed().resize(THUMBNAIL_BOX, THUMBNAIL_BOX, { fit: "inside", withoutEnlargement: true }).webp({ quality: 80 }).toBuffer({ resolveWithObject: true }),
      fromFeed().resize(32, 32, { fit: "inside" }).ensureAlpha().raw().toBuffer({ resolveWithObject: true }),
    ]);
    const blurhash = encodeBlurhash(new Uint8ClampedArray(tiny.data), tiny.info.width, tiny.info.height, 4, 3);
    const r = (name: Rendition["name"], out: { data: Buffer; info: OutputInfo }, format: ImageFormat): Rendition => ({
      name,
      data: out.data,
      width: out.info.width,
      height: out.info.height,
      contentType: CONTENT_TYPES[format],
      ext: EXTENSIONS[format],
    });
    return {
      format: declared,
      width: original.info.width,
      height: original.info.height,
      blurhash,
      sha256: createHash("sha256").update(input).digest("hex"),
      renditions: [r("original", original, declared), r("feed", feed, "webp"), r("thumbnail", thumbnail, "webp")],
    };
  } catch (err) {
    if (err instanceof DomainError) throw err;
    throw unsupported("Image is corrupt or truncated");
  }
}
