import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAllowedAddress, isLoopbackAddress, isPublicAddress } from "../src/net/address.ts";
import { FetchRefused, pinnedFetch } from "../src/net/pinned-fetch.ts";

// The one SSRF rule set (src/net) every outbound fetch shares: federation, MCP image URLs, webhooks.

describe("address rules", () => {
  const refusedAlways = [
    // IPv4: unspecified, private, CGNAT, link-local (cloud metadata), IETF, documentation, 6to4 relay, benchmark,
    // multicast, reserved and broadcast.
    "0.0.0.0", "0.1.2.3", "10.1.2.3", "100.64.0.1", "100.127.255.254", "169.254.169.254", "172.16.0.1", "172.31.255.255",
    "192.0.0.8", "192.0.2.1", "192.88.99.1", "192.168.0.1", "198.18.0.1", "198.51.100.7", "203.0.113.9", "224.0.0.1",
    "239.255.255.250", "240.0.0.1", "255.255.255.255",
    // IPv6: unspecified, ULA, link-local, site-local, multicast, documentation, discard, Teredo/ORCHID.
    "::", "fc00::1", "fd12:3456::1", "fe80::1", "fe80::1%eth0", "fec0::1", "ff02::1", "2001:db8::1", "3fff::1", "100::1",
    "2001::1", "2001:10::1",
    // IPv4 inside IPv6: mapped (every spelling) private, IPv4-compatible, IPv4-translated, NAT64 and 6to4 — the
    // transition prefixes are refused even around a public IPv4, since a gateway would carry us anywhere.
    "::ffff:10.0.0.1", "::ffff:a9fe:a9fe", "0:0:0:0:0:ffff:c0a8:0001", "::FFFF:192.168.1.1", "::10.0.0.1", "::8.8.8.8",
    "::ffff:0:808:808", "64:ff9b::a00:1", "64:ff9b::8.8.8.8", "64:ff9b:1::1", "2002:808:808::1", "2002:a00:1::1",
    // Not an address at all.
    "", "example.com", "1.2.3", "::ffff:999.1.1.1",
  ];
  const loopback = ["127.0.0.1", "127.255.0.9", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "::ffff:7f00:2"];
  const publicAddresses = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.1", "172.32.0.1", "2606:4700::1111", "2a00:1450::200e", "::ffff:8.8.8.8", "::ffff:808:808"];

  it("refuses every non-public range, with or without the development allowance", () => {
    for (const a of refusedAlways) {
      expect(isPublicAddress(a), a).toBe(false);
      expect(isAllowedAddress(a, true), a).toBe(false);
    }
  });

  it("opens loopback (and only loopback) with the allowance, in every spelling", () => {
    for (const a of loopback) {
      expect(isLoopbackAddress(a), a).toBe(true);
      expect(isPublicAddress(a), a).toBe(false);
      expect(isAllowedAddress(a, false), a).toBe(false);
      expect(isAllowedAddress(a, true), a).toBe(true);
    }
    expect(isLoopbackAddress("10.0.0.1")).toBe(false);
    expect(isLoopbackAddress("::2")).toBe(false);
  });

  it("allows global unicast, IPv4-mapped public included", () => {
    for (const a of publicAddresses) {
      expect(isPublicAddress(a), a).toBe(true);
      expect(isAllowedAddress(a, false), a).toBe(true);
    }
  });
});

describe("pinnedFetch", () => {
  let server: http.Server;
  let origin: string;
  const received: { method: string; path: string; body: string }[] = [];
  const loopbackOnly = (address: string) => isAllowedAddress(address, true);

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        received.push({ method: req.method ?? "", path: req.url ?? "", body });
        if (req.url === "/ok") res.writeHead(200, { "content-type": "text/plain" }).end("hello");
        else if (req.url === "/big") res.writeHead(200).end("x".repeat(5000));
        else if (req.url === "/stream") {
          // No content-length: the cap must hold while streaming.
          res.writeHead(200);
          for (let i = 0; i < 10; i++) res.write("y".repeat(1000));
          res.end();
        } else if (req.url === "/to-ok") res.writeHead(302, { location: "/ok" }).end();
        else if (req.url === "/to-other-loopback") res.writeHead(302, { location: `http://127.0.0.2:${port()}/ok` }).end();
        else if (req.url === "/to-metadata") res.writeHead(307, { location: "http://169.254.169.254/latest" }).end();
        else if (req.url === "/loop") res.writeHead(302, { location: "/loop" }).end();
        else if (req.url === "/hang") return;
        else res.writeHead(404).end("nope");
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    origin = `http://127.0.0.1:${port()}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });
  const port = () => (server.address() as AddressInfo).port;

  it("refuses a disallowed literal, name or scheme before connecting", async () => {
    const before = received.length;
    const strict = { isAllowed: (a: string) => isAllowedAddress(a, false), maxBytes: 100 };
    for (const url of [`${origin}/ok`, `http://localhost:${port()}/ok`, `http://[::ffff:127.0.0.1]:${port()}/ok`]) {
      const error = await pinnedFetch(url, strict).catch((e: unknown) => e);
      expect(error, url).toBeInstanceOf(FetchRefused);
      expect((error as FetchRefused).reason, url).toBe("address");
    }
    await expect(pinnedFetch("file:///etc/passwd", strict)).rejects.toMatchObject({ reason: "scheme" });
    await expect(pinnedFetch(`http://u:p@127.0.0.1:${port()}/ok`, { ...strict, isAllowed: loopbackOnly })).rejects.toMatchObject({ reason: "credentials" });
    expect(received.length).toBe(before);
  });

  it("checks a name's resolved addresses at connect time, and connects only to checked ones", async () => {
    const before = received.length;
    const asked: string[] = [];
    // Passes the pre-connect name check (the first question), refuses every address DNS then returns.
    const firstOnly = (a: string) => asked.push(a) === 1;
    const error = await pinnedFetch(`http://localhost:${port()}/ok`, { isAllowed: firstOnly, maxBytes: 100 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FetchRefused);
    expect((error as Error).message).toMatch(/localhost resolves to a disallowed address/);
    expect(asked.length).toBeGreaterThan(1);
    expect(received.length).toBe(before);
    const named = await pinnedFetch(`http://localhost:${port()}/ok`, { isAllowed: (a) => isLoopbackAddress(a), maxBytes: 100 });
    expect(named.body.toString()).toBe("hello");
  });

  it("follows redirects, re-checking every hop, and stops loops", async () => {
    const res = await pinnedFetch(`${origin}/to-ok`, { isAllowed: loopbackOnly, maxBytes: 100 });
    expect(res.status).toBe(200);
    expect(res.url.href).toBe(`${origin}/ok`);
    expect(res.body.toString()).toBe("hello");
    const onlyFirst = (a: string) => a === "127.0.0.1";
    await expect(pinnedFetch(`${origin}/to-other-loopback`, { isAllowed: onlyFirst, maxBytes: 100 })).rejects.toMatchObject({ reason: "address" });
    await expect(pinnedFetch(`${origin}/to-metadata`, { isAllowed: loopbackOnly, maxBytes: 100 })).rejects.toMatchObject({ reason: "address" });
    await expect(pinnedFetch(`${origin}/loop`, { isAllowed: loopbackOnly, maxBytes: 100, maxRedirects: 3 })).rejects.toThrow(/too many redirects/);
  });

  it("caps bodies, declared or streamed", async () => {
    await expect(pinnedFetch(`${origin}/big`, { isAllowed: loopbackOnly, maxBytes: 4000 })).rejects.toMatchObject({ reason: "too_large" });
    await expect(pinnedFetch(`${origin}/stream`, { isAllowed: loopbackOnly, maxBytes: 4000 })).rejects.toMatchObject({ reason: "too_large" });
    const fits = await pinnedFetch(`${origin}/stream`, { isAllowed: loopbackOnly, maxBytes: 10_000 });
    expect(fits.body.length).toBe(10_000);
  });

  it("webhook mode: POSTs the body, returns a 3xx unfollowed, reads no body", async () => {
    const options = { isAllowed: loopbackOnly, method: "POST" as const, body: '{"a":1}', headers: { "content-type": "application/json" }, maxBytes: 0, readBody: false, maxRedirects: 0 };
    const moved = await pinnedFetch(`${origin}/to-ok`, options);
    expect(moved.status).toBe(302);
    expect(moved.headers.get("location")).toBe("/ok");
    expect(received.at(-1)).toEqual({ method: "POST", path: "/to-ok", body: '{"a":1}' });
    const ok = await pinnedFetch(`${origin}/big`, options);
    expect(ok.status).toBe(200);
    expect(ok.body.length).toBe(0);
  });

  it("gives up at the deadline", async () => {
    await expect(pinnedFetch(`${origin}/hang`, { isAllowed: loopbackOnly, maxBytes: 100, timeoutMs: 200 })).rejects.toThrow("timed out after 200 ms");
  });
});
