import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FetchRefused, isAllowedAddress, safeDocumentLoader, safeFetch } from "../federation/fetch.ts";
import { serveHttps, type HttpsServer } from "./helpers/tls.ts";

// The SSRF-safe fetch our federation code uses for documents and remote images, against a real loopback server.

let server: HttpsServer;
const routes = new Map<string, () => Response>();

beforeAll(async () => {
  server = await serveHttps(() => (request) => routes.get(new URL(request.url).pathname)?.() ?? new Response("nope", { status: 404 }));
  routes.set("/doc", () => Response.json({ id: `${server.origin}/doc`, type: "Note" }, { headers: { "content-type": "application/activity+json" } }));
  routes.set("/big", () => new Response("x".repeat(2 * 1024 * 1024), { headers: { "content-type": "application/activity+json" } }));
  routes.set("/broken", () => new Response('{"id": ', { headers: { "content-type": "application/activity+json" } }));
  routes.set("/html", () => new Response("<html></html>", { headers: { "content-type": "text/html" } }));
  routes.set("/to-private", () => new Response(null, { status: 302, headers: { location: "http://192.168.1.1/x" } }));
  routes.set("/to-mapped", () => new Response(null, { status: 301, headers: { location: "http://[::ffff:10.0.0.1]/x" } }));
  routes.set("/to-doc", () => new Response(null, { status: 307, headers: { location: "/doc" } }));
  routes.set("/loop", () => new Response(null, { status: 302, headers: { location: "/loop" } }));
});
afterAll(() => server?.close());

describe("address policy", () => {
  it("refuses private, link-local, CGNAT, NAT64, multicast and mapped-private addresses; loopback only when allowed", () => {
    for (const a of ["10.1.2.3", "172.16.0.1", "192.168.0.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "fc00::1", "fe80::1", "64:ff9b::a00:1", "::ffff:10.0.0.1", "2001:db8::1"]) {
      expect(isAllowedAddress(a, true), a).toBe(false);
    }
    expect(isAllowedAddress("127.0.0.1", false)).toBe(false);
    expect(isAllowedAddress("::1", false)).toBe(false);
    expect(isAllowedAddress("127.0.0.1", true)).toBe(true);
    for (const a of ["93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8"]) expect(isAllowedAddress(a, false), a).toBe(true);
  });
});

describe("safeFetch and the document loader", () => {
  const load = safeDocumentLoader({ allowLoopback: true });

  it("loads a JSON document, following a same-server redirect", async () => {
    const doc = await load(`${server.origin}/to-doc`);
    expect(doc.documentUrl).toBe(`${server.origin}/doc`);
    expect(doc.document).toMatchObject({ type: "Note" });
  });

  it("refuses loopback without ALLOW_PRIVATE_ADDRESS", async () => {
    await expect(safeFetch(`${server.origin}/doc`, { allowLoopback: false, maxBytes: 1000, accept: "*/*" })).rejects.toBeInstanceOf(FetchRefused);
  });

  it("re-validates every redirect hop: private targets, mapped addresses and loops are refused", async () => {
    await expect(load(`${server.origin}/to-private`)).rejects.toBeInstanceOf(FetchRefused);
    await expect(load(`${server.origin}/to-mapped`)).rejects.toBeInstanceOf(FetchRefused);
    await expect(load(`${server.origin}/loop`)).rejects.toThrow(/too many redirects/);
  });

  it("caps the body while it streams and refuses malformed or non-JSON documents", async () => {
    await expect(load(`${server.origin}/big`)).rejects.toThrow(/exceeds/);
    await expect(load(`${server.origin}/broken`)).rejects.toThrow(/malformed/);
    await expect(load(`${server.origin}/html`)).rejects.toThrow(/not a JSON/);
    await expect(load("file:///etc/passwd")).rejects.toThrow(/unsupported scheme/);
  });
});
