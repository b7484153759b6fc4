import { decode, isBlurhashValid } from "blurhash";

const cache = new Map<string, string>();

/**
 * A blurhash as a tiny BMP data URL, drawn under the real image while it loads. An <img> rather than an inline style,
 * so the page's CSP needs no 'unsafe-inline' for styles; the browser's smoothing on upscale does the blurring.
 */
export function blurhashDataUrl(hash: string | null | undefined, size = 8): string | undefined {
  if (!hash) return undefined;
  const key = `${size}:${hash}`;
  const hit = cache.get(key);
  if (hit) return hit;
  if (!isBlurhashValid(hash).result) return undefined;
  const pixels = decode(hash, size, size);
  const rowBytes = Math.ceil((size * 3) / 4) * 4;
  const bmp = Buffer.alloc(54 + rowBytes * size);
  bmp.write("BM", 0, "latin1");
  bmp.writeUInt32LE(bmp.length, 2);
  bmp.writeUInt32LE(54, 10);
  bmp.writeUInt32LE(40, 14);
  bmp.writeInt32LE(size, 18);
  bmp.writeInt32LE(-size, 22); // top-down rows
  bmp.writeUInt16LE(1, 26);
  bmp.writeUInt16LE(24, 28);
  bmp.writeUInt32LE(rowBytes * size, 34);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 4;
      const o = 54 + y * rowBytes + x * 3;
      bmp[o] = pixels[i + 2]!;
      bmp[o + 1] = pixels[i + 1]!;
      bmp[o + 2] = pixels[i]!;
    }
  }
  const url = `data:image/bmp;base64,${bmp.toString("base64")}`;
  if (cache.size >= 5000) cache.delete(cache.keys().next().value!);
  cache.set(key, url);
  return url;
}
