export const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;

export type ImageFormat = "png" | "jpeg" | "webp";

export const CONTENT_TYPES: Record<ImageFormat, string> = {
  png: "image/png",
  jpeg: "image/jpeg",
  webp: "image/webp",
};

export const EXTENSIONS: Record<ImageFormat, string> = { png: "png", jpeg: "jpg", webp: "webp" };

export function formatForContentType(contentType: string): ImageFormat | null {
  const normalized = contentType.trim().toLowerCase();
  for (const [format, type] of Object.entries(CONTENT_TYPES)) if (type === normalized) return format as ImageFormat;
  return null;
}

/** Format named by the file's first bytes (PNG signature, JPEG SOI, RIFF/WEBP), or null. */
export function sniffFormat(head: Uint8Array): ImageFormat | null {
  const at = (i: number, bytes: number[]) => bytes.every((b, j) => head[i + j] === b);
  if (at(0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return "png";
  if (at(0, [0xff, 0xd8, 0xff])) return "jpeg";
  if (at(0, [0x52, 0x49, 0x46, 0x46]) && at(8, [0x57, 0x45, 0x42, 0x50])) return "webp";
  return null;
}

/** The contract's filename rule: characters outside `[A-Za-z0-9._-]` become `_`, runs collapse, empty → upload.bin. */
export function sanitizeFilename(name: string): string {
  const cleaned = name
    .replace(/[^A-Za-z0-9._-]/g, "_")
    .replace(/_+/g, "_")
    .replace(/^\.+/, "_");
  return cleaned === "" || cleaned === "_" ? "upload.bin" : cleaned.slice(0, 255);
}
