import { randomFillSync } from "node:crypto";

let lastMs = 0;
let seq = 0;

// Entropy drawn 4 KiB at a time: a call into the CSPRNG per id cost more than everything else an id needs (every
// request gets one). Bytes are used once, front to back, and never handed out twice.
const pool = Buffer.alloc(4096);
let poolAt = pool.length;
function randomInto(target: Buffer, length: number) {
  if (poolAt + length > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  pool.copy(target, 0, poolAt, poolAt + length);
  pool.fill(0, poolAt, poolAt + length);
  poolAt += length;
}

/**
 * A lowercase hyphenated UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits. Within one millisecond a
 * 12-bit counter in `rand_a` keeps ids from this process monotonic, so ids sort by creation.
 */
export function uuidv7(now: number = Date.now()): string {
  if (now <= lastMs) {
    seq++;
    if (seq > 0xfff) {
      lastMs++;
      seq = 0;
    }
    now = lastMs;
  } else {
    lastMs = now;
    const r = Buffer.allocUnsafe(2);
    randomInto(r, 2);
    seq = r.readUInt16BE(0) & 0x3ff; // leave headroom for the counter
  }
  const b = Buffer.allocUnsafe(16);
  randomInto(b, 16);
  b.writeUIntBE(now, 0, 6);
  b[6] = 0x70 | ((seq >> 8) & 0x0f);
  b[7] = seq & 0xff;
  b[8] = 0x80 | (b[8]! & 0x3f);
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Whether a string is a UUID we could have issued (checked before it reaches a uuid column). */
export const isUuid = (value: string) => UUID_RE.test(value);
