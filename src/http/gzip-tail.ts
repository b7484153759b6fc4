import { constants, crc32, deflateRawSync } from "node:zlib";

/**
 * gzip for a cached body that ends differently on every request (the envelope's `request_id`): the shared head is
 * compressed once, ending in a full flush (byte-aligned, history reset, no final block), so each response only adds
 * its few tail bytes as a final *stored* deflate block (no compressor per request) and the gzip trailer, whose CRC-32
 * continues from the head's. The result is one ordinary gzip member.
 */
export type GzipHead = { bytes: Buffer; crc: number; length: number };

const HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]); // deflate, no name or time, unknown OS

export function gzipHead(head: Buffer): GzipHead {
  const body = deflateRawSync(head, { level: 6, finishFlush: constants.Z_FULL_FLUSH });
  return { bytes: Buffer.concat([HEADER, body]), crc: crc32(head), length: head.length };
}

export function gzipWithTail(head: GzipHead, tail: Buffer): Buffer<ArrayBuffer> {
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(tail, head.crc), 0);
  trailer.writeUInt32LE((head.length + tail.length) % 2 ** 32, 4);
  if (tail.length > 0xffff) throw new RangeError("a stored deflate block holds at most 65535 bytes");
  const block = Buffer.from([0x01, tail.length & 0xff, tail.length >> 8, ~tail.length & 0xff, (~tail.length >> 8) & 0xff]);
  return Buffer.concat([head.bytes, block, tail, trailer]);
}

/** Whether the request's Accept-Encoding allows gzip (`gzip`, `x-gzip` or `*`, not with q=0). */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  let star = false;
  for (const part of header.split(",")) {
    const [name = "", ...params] = part.toLowerCase().split(";").map((p) => p.trim());
    const q = params.find((p) => p.startsWith("q="));
    const ok = q === undefined || Number(q.slice(2)) > 0;
    if (name === "gzip" || name === "x-gzip") return ok;
    if (name === "*") star = ok;
  }
  return star;
}
