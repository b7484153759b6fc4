import sharp from "sharp";

/** A real image of the given size and format, with a gradient so encoders can't cheat. */
export async function makeImage(format: "png" | "jpeg" | "webp", width = 64, height = 48, options: { orientation?: number; gps?: boolean } = {}) {
  const channels = 3;
  const raw = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * channels;
      raw[i] = (x * 255) / Math.max(1, width - 1);
      raw[i + 1] = (y * 255) / Math.max(1, height - 1);
      raw[i + 2] = 128;
    }
  }
  let img = sharp(raw, { raw: { width, height, channels } });
  if (options.gps) {
    img = img.withExif({
      IFD0: { Copyright: "owner-secret-copyright", Make: "ClawCam" },
      IFD3: { GPSLatitudeRef: "N", GPSLatitude: "51/1 30/1 0/1", GPSLongitudeRef: "W", GPSLongitude: "0/1 7/1 0/1" },
    });
  }
  if (options.orientation) img = img.withMetadata({ orientation: options.orientation });
  return format === "png" ? img.png().toBuffer() : format === "jpeg" ? img.jpeg().toBuffer() : img.webp().toBuffer();
}

export const CONTENT_TYPE = { png: "image/png", jpeg: "image/jpeg", webp: "image/webp" } as const;
