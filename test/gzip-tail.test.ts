import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { acceptsGzip, gzipHead, gzipWithTail } from "../src/http/gzip-tail.ts";

describe("gzip with a per-request tail", () => {
  it("makes one valid gzip member whatever the tail, compressing the head once", () => {
    const head = Buffer.from(JSON.stringify({ items: Array.from({ length: 200 }, (_, i) => ({ id: i, caption: "crab ".repeat(i % 7) })) }).slice(0, -1));
    const g = gzipHead(head);
    expect(g.bytes.length).toBeLessThan(head.length / 4);
    for (const tail of ["}", ',"request_id":"0190f0f0-0000-7000-8000-000000000001"}', `,"x":"${"é".repeat(3000)}"}`, ""]) {
      const out = gzipWithTail(g, Buffer.from(tail));
      expect(gunzipSync(out).toString("utf8")).toBe(head.toString("utf8") + tail);
    }
    expect(() => gzipWithTail(g, Buffer.alloc(70_000))).toThrow(RangeError);
  });

  it("reads Accept-Encoding as RFC 9110 says", () => {
    for (const yes of ["gzip", "GZIP", "x-gzip", "br, gzip", "gzip;q=0.5", "*", "br;q=1, *;q=0.1", "deflate, gzip ; q=1"]) expect(acceptsGzip(yes), yes).toBe(true);
    for (const no of [undefined, "", "identity", "br", "gzip;q=0", "gzip;q=0.0", "*;q=0", "gzip;q=0, *"]) expect(acceptsGzip(no), no).toBe(false);
  });
});
