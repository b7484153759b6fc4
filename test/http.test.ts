import http from "node:http";
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { readResponse, type CallResult } from "./helpers/client.ts";
import { createTestDatabase } from "./helpers/db.ts";

// The HTTP layer of contract §2 (envelope, request ids, routing, bodies, security headers, CORS, credentials in the
// query string, health, OpenAPI, docs, 500s), exercised against the real app and a real database.

const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO_MS_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const API_CSP = "default-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";
const ALLOW_METHODS = "GET,HEAD,POST,PATCH,DELETE,OPTIONS";
const ALLOW_HEADERS = "Authorization,Content-Type,Idempotency-Key,X-Request-Id";
const HSTS = "max-age=31536000; includeSubDomains";
const MIB = 1024 * 1024;
const ALLOWED = "https://a.example";
const HEALTH_PATHS = ["/health", "/healthz", "/api/v1/healthz"];

let t: TestApp;
let prod: TestApp;
beforeAll(async () => {
  // Allowlist entries are written loosely on purpose: they must be normalised to bare origins.
  t = await createTestApp({ CORS_ALLOWED_ORIGINS: " https://A.example/ , http://b.example:8080/some/path,https://c.example:443" });
  const secrets = { API_KEY_PEPPER: "a-production-secret-pepper-0123456789", OWNER_TOKEN_PEPPER: "another-production-secret-0123456789" };
  prod = await createTestApp({ NODE_ENV: "production", ...secrets }, t.db);
});
afterAll(async () => {
  await t?.close();
});

type Res = CallResult;

/** A raw request through the full in-process stack (for bodies and headers `t.call` does not produce). */
async function send(path: string, init: RequestInit = {}, app: TestApp = t): Promise<Res> {
  return readResponse(await app.app.request(path, init));
}

const register = (body: unknown, headers: Record<string, string> = {}) =>
  t.call("POST", "/api/v1/agents/register", { body, headers });

async function agentRows(name: string): Promise<number> {
  const rows = await t.db.sql`SELECT count(*)::int AS n FROM agents WHERE name = ${name}`;
  return rows[0]!.n as number;
}

/** Bytes of a JSON register body padded (with an ignored field) to exactly `size` bytes. */
function paddedRegisterBody(name: string, size: number): string {
  const head = JSON.stringify({ name, description: "padded" }).slice(0, -1) + ',"pad":"';
  const tail = '"}';
  const pad = size - Buffer.byteLength(head) - Buffer.byteLength(tail);
  if (pad < 0) throw new Error("size too small");
  return head + "x".repeat(pad) + tail;
}

/** A body delivered as a stream of chunks, so no Content-Length is known up front. */
function chunkedStream(text: string, chunkSize = 64 * 1024): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.byteLength) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.slice(offset, offset + chunkSize));
      offset += chunkSize;
    },
  });
}

function expectRequestId(res: Res): string {
  const id = res.headers.get("x-request-id");
  expect(id).toMatch(UUIDV7);
  return id!;
}

/** Success envelope: exactly `{success:true, data, request_id}` with `request_id` = `X-Request-Id`. */
function expectOk(res: Res, status = 200) {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  expect(Object.keys(res.json).sort()).toEqual(["data", "request_id", "success"]);
  expect(res.json.success).toBe(true);
  expect(res.json.request_id).toBe(expectRequestId(res));
}

/** Error envelope: `{success:false, error, code, hint?, request_id}`; `hint` is a string or absent, never null. */
function expectError(res: Res, status: number, code: string, error?: string) {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  expect(res.json.success).toBe(false);
  expect(res.json.code).toBe(code);
  expect(typeof res.json.error).toBe("string");
  expect(res.json.error.length).toBeGreaterThan(0);
  if (error !== undefined) expect(res.json.error).toBe(error);
  expect(res.json.request_id).toBe(expectRequestId(res));
  const keys = Object.keys(res.json).sort();
  if ("hint" in res.json) {
    expect(typeof res.json.hint).toBe("string");
    expect(keys).toEqual(["code", "error", "hint", "request_id", "success"]);
  } else {
    expect(keys).toEqual(["code", "error", "request_id", "success"]);
  }
}

function expectApiSecurityHeaders(headers: Headers, production = false) {
  expect(headers.get("content-security-policy")).toBe(API_CSP);
  expect(headers.get("x-content-type-options")).toBe("nosniff");
  expect(headers.get("referrer-policy")).toBe("no-referrer");
  expect(headers.get("x-frame-options")).toBe("DENY");
  expect(headers.get("strict-transport-security")).toBe(production ? HSTS : null);
}

function expectNoCors(headers: Headers) {
  expect(headers.get("access-control-allow-origin")).toBeNull();
  expect(headers.get("access-control-allow-methods")).toBeNull();
  expect(headers.get("access-control-allow-headers")).toBeNull();
  expect(headers.get("access-control-allow-credentials")).toBeNull();
  expect(headers.get("access-control-expose-headers")).toBeNull();
}

function expectCors(headers: Headers, origin: string) {
  expect(headers.get("access-control-allow-origin")).toBe(origin);
  expect(headers.get("access-control-allow-methods")).toBe(ALLOW_METHODS);
  expect(headers.get("access-control-allow-headers")).toBe(ALLOW_HEADERS);
  expect(headers.get("access-control-allow-credentials")).toBeNull();
  expect(headers.get("access-control-expose-headers")).toBeNull();
  const vary = (headers.get("vary") ?? "").split(",").map((s) => s.trim().toLowerCase());
  if (origin === "*") expect(vary).not.toContain("origin");
  else expect(vary).toContain("origin");
}

const preflight = (path: string, headers: Record<string, string>) => send(path, { method: "OPTIONS", headers });

describe("envelope", () => {
  it("wraps success as exactly {success, data, request_id}", async () => {
    const res = await t.call("GET", "/health");
    expectOk(res);
    expect(res.json.data).toEqual({ status: "ok" });
  });

  it("wraps a created resource the same way, with 201", async () => {
    const res = await register({ name: "env_created", description: "x" });
    expectOk(res, 201);
    expect(res.json.data.important).toBe("SAVE YOUR API KEY");
  });

  it("omits hint (never null) when an error has none", async () => {
    const res = await t.call("GET", "/api/v1/no-such-route");
    expectError(res, 404, "not_found", "Route not found");
    expect(res.json).not.toHaveProperty("hint");
    expect(res.text).not.toContain("null");
    const unauth = await t.call("GET", "/api/v1/agents/me");
    expectError(unauth, 401, "invalid_api_key", "Invalid API key");
    expect(unauth.json).not.toHaveProperty("hint");
  });

  it("includes hint as a string when there is one", async () => {
    const res = await register({ name: "x", description: "x" });
    expectError(res, 400, "validation_error", "Request validation failed");
    expect(res.json.hint).toMatch(/name/);
  });

  it("puts snake_case keys only on the wire", async () => {
    const { name } = await t.registerAgent();
    const res = await t.call("GET", `/api/v1/agents/${name}`);
    expectOk(res);
    for (const key of Object.keys(res.json.data)) expect(key).toMatch(/^[a-z0-9_]+$/);
  });
});

describe("request ids", () => {
  it("sends X-Request-Id equal to request_id, as a lowercase UUIDv7 minted now", async () => {
    const before = Date.now();
    const res = await t.call("GET", "/health");
    const id = expectRequestId(res);
    expect(res.json.request_id).toBe(id);
    expect(id).toBe(id.toLowerCase());
    const ms = parseInt(id.replace(/-/g, "").slice(0, 12), 16);
    expect(ms).toBeGreaterThanOrEqual(before - 1000);
    expect(ms).toBeLessThanOrEqual(Date.now() + 1000);
  });

  it("carries the header on every kind of response, bodiless ones included", async () => {
    const errors = [
      await t.call("GET", "/nope"),
      await t.call("GET", "/api/v1/agents/me"),
      await register("{", {}),
      await t.call("POST", "/api/v1/agents/register", { body: "hi", headers: { "content-type": "text/plain" } }),
      await preflight("/api/v1/agents/register", { origin: "https://evil.example", "access-control-request-method": "POST" }),
    ];
    for (const res of errors) expect(res.json.request_id).toBe(expectRequestId(res));
    const empty = [
      await preflight("/health", {}),
      await preflight("/health", { origin: "https://x.example", "access-control-request-method": "GET" }),
      await send("/health", { method: "HEAD" }),
    ];
    for (const res of empty) {
      expect(res.text).toBe("");
      expectRequestId(res);
    }
  });

  it("is unique per request, even in parallel", async () => {
    const responses = await Promise.all(Array.from({ length: 100 }, (_, i) => t.call("GET", i % 2 ? "/healthz" : "/nope")));
    const ids = responses.map((r) => expectRequestId(r));
    expect(new Set(ids).size).toBe(100);
    for (const r of responses) expect(r.json.request_id).toBe(r.headers.get("x-request-id"));
  });

  it("never echoes a client-sent X-Request-Id", async () => {
    const clientIds = ["client-chosen-id", "01920000-0000-7000-8000-000000000000", "<script>alert(1)</script>"];
    for (const clientId of clientIds) {
      for (const res of [
        await t.call("GET", "/health", { headers: { "x-request-id": clientId } }),
        await t.call("GET", "/missing", { headers: { "x-request-id": clientId } }),
      ]) {
        expect(res.headers.get("x-request-id")).not.toBe(clientId);
        expect(res.json.request_id).not.toBe(clientId);
        expect(res.text).not.toContain(clientId);
        expectRequestId(res);
      }
    }
  });
});

describe("routing", () => {
  it.each([
    ["GET", "/api"],
    ["GET", "/api/v1"],
    ["GET", "/api/v1/no-such-route"],
    ["GET", "/api/v2/healthz"],
    ["GET", "/API/V1/HEALTHZ"],
    ["GET", "/health/"],
    ["GET", "/api/v1/agents/me/extra"],
    ["POST", "/api/v1/no-such-route"],
  ])("%s %s → 404 not_found Route not found", async (method, path) => {
    const res = await t.call(method, path, method === "POST" ? { body: {} } : {});
    expectError(res, 404, "not_found", "Route not found");
    expectApiSecurityHeaders(res.headers);
  });

  it.each([
    ["DELETE", "/api/v1/agents/register"],
    ["PUT", "/api/v1/agents/register"],
    ["GET", "/api/v1/agents/me/api-key/rotate"],
    ["PUT", "/health"],
    ["POST", "/healthz"],
    ["DELETE", "/api/v1/healthz"],
    ["PATCH", "/api/v1/agents/status"],
    ["DELETE", "/api/v1/agents/somebody"],
    ["POST", "/api/v1/openapi.json"],
    ["POST", "/docs"],
  ])("unknown method %s on known path %s → 404 not_found", async (method, path) => {
    const res = await t.call(method, path);
    expectError(res, 404, "not_found", "Route not found");
  });

  it("answers HEAD on GET routes without a body", async () => {
    const res = await send("/health", { method: "HEAD" });
    expect(res.status).toBe(200);
    expect(res.text).toBe("");
    expectApiSecurityHeaders(res.headers);
  });
});

describe("request bodies", () => {
  it.each([
    ["unterminated", "{"],
    ["missing value", '{"name":}'],
    ["single quotes", "{'name':'x'}"],
    ["trailing garbage", '{"name":"abc","description":"x"} x'],
    ["trailing comma", '{"name":"abc","description":"x",}'],
    ["bare word", "NaN"],
    ["comment", '/* hi */ {"name":"abc","description":"x"}'],
  ])("malformed JSON (%s) → 400 validation_error", async (_label, body) => {
    const res = await register(body);
    expectError(res, 400, "validation_error", "Request validation failed");
  });

  it.each([
    ["null", "null"],
    ["array", '[{"name":"json_arr","description":"x"}]'],
    ["string", '"json_str"'],
    ["number", "42"],
    ["boolean", "true"],
    ["empty", ""],
    ["whitespace", " \n\t "],
  ])("a %s body where an object is expected → 400 validation_error", async (_label, body) => {
    const res = await send("/api/v1/agents/register", { method: "POST", headers: { "content-type": "application/json" }, body });
    expectError(res, 400, "validation_error", "Request validation failed");
    expect(await agentRows("json_arr")).toBe(0);
  });

  it.each([
    ["text/plain", "text/plain"],
    ["text/plain with charset", "text/plain; charset=utf-8"],
    ["form", "application/x-www-form-urlencoded"],
    ["multipart", "multipart/form-data; boundary=xyz"],
    ["xml", "application/xml"],
    ["json look-alike", "application/jsonx"],
    ["json in a parameter", "text/plain; x=application/json"],
  ])("a body sent as %s → 415 unsupported_media_type, nothing stored", async (_label, contentType) => {
    const name = `ct_${contentType.length}_${_label.length}`;
    const res = await register(JSON.stringify({ name, description: "x" }), { "content-type": contentType });
    expectError(res, 415, "unsupported_media_type");
    expect(await agentRows(name)).toBe(0);
  });

  it("refuses a body without any Content-Type with 415", async () => {
    const bytes = new TextEncoder().encode(JSON.stringify({ name: "ct_none", description: "x" }));
    const res = await send("/api/v1/agents/register", { method: "POST", body: bytes });
    expectError(res, 415, "unsupported_media_type");
    expect(await agentRows("ct_none")).toBe(0);
  });

  it.each(["application/json; charset=utf-8", "Application/JSON", "application/json;charset=UTF-8"])(
    "accepts Content-Type %s",
    async (contentType) => {
      const name = `ct_ok_${contentType.length}${contentType.includes("J") ? "u" : "l"}`;
      const res = await register(JSON.stringify({ name, description: "x" }), { "content-type": contentType });
      expectOk(res, 201);
      expect(await agentRows(name)).toBe(1);
    },
  );

  it("refuses a 2 MiB body declared by Content-Length with 413, storing nothing", async () => {
    const body = paddedRegisterBody("big_declared", 2 * MIB);
    const res = await send("/api/v1/agents/register", {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) },
      body,
    });
    expectError(res, 413, "payload_too_large");
    expect(await agentRows("big_declared")).toBe(0);
  });

  it("refuses a 2 MiB chunked stream without Content-Length with 413, storing nothing", async () => {
    const res = await send("/api/v1/agents/register", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: chunkedStream(paddedRegisterBody("big_streamed", 2 * MIB)),
      duplex: "half",
    } as RequestInit);
    expectError(res, 413, "payload_too_large");
    expect(await agentRows("big_streamed")).toBe(0);
  });

  it("refuses an oversized stream of the wrong type for its type", async () => {
    const res = await send("/api/v1/agents/register", {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: chunkedStream("x".repeat(2 * MIB)),
      duplex: "half",
    } as RequestInit);
    expectError(res, 415, "unsupported_media_type");
  });

  it("accepts exactly 1 MiB and refuses one byte more", async () => {
    const exact = paddedRegisterBody("limit_exact", MIB);
    expect(Buffer.byteLength(exact)).toBe(MIB);
    expectOk(await register(exact), 201);
    const over = paddedRegisterBody("limit_over", MIB + 1);
    expectError(await register(over), 413, "payload_too_large");
    const overStreamed = await send("/api/v1/agents/register", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: chunkedStream(paddedRegisterBody("limit_over", MIB + 1), 1000),
      duplex: "half",
    } as RequestInit);
    expectError(overStreamed, 413, "payload_too_large");
    expect(await agentRows("limit_exact")).toBe(1);
    expect(await agentRows("limit_over")).toBe(0);
  });

  it("refuses a nonsensical Content-Length with 400", async () => {
    const res = await send("/api/v1/agents/register", {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": "-5" },
      body: JSON.stringify({ name: "bad_length", description: "x" }),
    });
    expectError(res, 400, "validation_error");
    expect(await agentRows("bad_length")).toBe(0);
  });

  it("refuses invalid UTF-8 with 400 validation_error", async () => {
    for (const bad of [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]]) {
      const bytes = Buffer.concat([Buffer.from('{"name":"utf_bad","description":"'), Buffer.from(bad), Buffer.from('"}')]);
      const res = await send("/api/v1/agents/register", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: new Uint8Array(bytes),
      });
      expectError(res, 400, "validation_error", "Request validation failed");
    }
    expect(await agentRows("utf_bad")).toBe(0);
  });

  it("accepts multi-byte UTF-8 split across stream chunks", async () => {
    const res = await send("/api/v1/agents/register", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: chunkedStream(JSON.stringify({ name: "utf_split", description: "🦀🦀🦀 crabé" }), 3),
      duplex: "half",
    } as RequestInit);
    expectOk(res, 201);
    const profile = await t.call("GET", "/api/v1/agents/utf_split");
    expect(profile.json.data.bio).toBe("🦀🦀🦀 crabé");
  });

  it("ignores unknown JSON fields, hostile ones included", async () => {
    const body = '{"name":"extra_fields","description":"x","admin":true,"claimed":true,"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}}';
    const res = await register(body);
    expectOk(res, 201);
    expect(({} as any).polluted).toBeUndefined();
    const profile = await t.call("GET", "/api/v1/agents/extra_fields");
    expect(profile.json.data.claimed).toBe(false);
    expect(profile.json.data).not.toHaveProperty("admin");
  });

  it("survives deeply nested JSON inside the size limit", async () => {
    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    const res = await register(`{"name":"deep_json","description":"x","deep":${deep}}`);
    expectOk(res, 201);
  });

  it("refuses an empty body labelled JSON with 400, even where no body is needed", async () => {
    const { key } = await t.registerAgent();
    const auth = { authorization: `Bearer ${key}` };
    for (const headers of [
      { ...auth, "content-type": "application/json", "content-length": "0" },
      { ...auth, "content-type": "application/json; charset=utf-8" },
    ]) {
      expectError(await send("/api/v1/agents/me", { method: "PATCH", headers }), 400, "validation_error", "Request validation failed");
      expectError(await send("/api/v1/agents/me/api-key/rotate", { method: "POST", headers }), 400, "validation_error");
    }
    // Nothing happened: the key was not rotated.
    expectOk(await t.call("GET", "/api/v1/agents/me", { key }));
  });

  it("refuses an empty body with a non-JSON Content-Type with 415", async () => {
    const { key } = await t.registerAgent();
    for (const contentType of ["text/plain", "application/x-www-form-urlencoded"]) {
      const res = await send("/api/v1/agents/me/api-key/rotate", {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": contentType, "content-length": "0" },
      });
      expectError(res, 415, "unsupported_media_type");
    }
    expectOk(await t.call("GET", "/api/v1/agents/me", { key }));
  });

  it("lets a request without body or Content-Type through to the route", async () => {
    const { key } = await t.registerAgent();
    expectOk(await send("/api/v1/agents/me", { method: "PATCH", headers: { authorization: `Bearer ${key}` } }));
    expectOk(
      await send("/api/v1/agents/me", { method: "PATCH", headers: { authorization: `Bearer ${key}`, "content-length": "0" } }),
    );
    const rotated = await send("/api/v1/agents/me/api-key/rotate", { method: "POST", headers: { authorization: `Bearer ${key}` } });
    expectOk(rotated);
    expect(rotated.json.data.api_key).not.toBe(key);
  });
});

describe("security headers", () => {
  it("are on success, error, 404, preflight and HEAD responses", async () => {
    const responses = [
      await t.call("GET", "/health"),
      await t.call("GET", "/api/v1/openapi.json"),
      await register({ name: "sec_hdr", description: "x" }),
      await register("{"),
      await t.call("GET", "/api/v1/agents/me"),
      await t.call("GET", "/api/v1/agents/nobody_here"),
      await t.call("GET", "/definitely/not/here"),
      await register("x", { "content-type": "text/plain" }),
      await register(paddedRegisterBody("sec_big", 2 * MIB)),
      await preflight("/health", {}),
      await preflight("/api/v1/agents/me", { origin: ALLOWED, "access-control-request-method": "PATCH" }),
      await preflight("/api/v1/agents/me", { origin: "https://evil.example", "access-control-request-method": "PATCH" }),
      await send("/healthz", { method: "HEAD" }),
      await t.call("GET", "/health?api_key=x"),
    ];
    expect(responses.map((r) => r.status)).toEqual([200, 200, 201, 400, 401, 404, 404, 415, 413, 204, 204, 403, 200, 401]);
    for (const res of responses) expectApiSecurityHeaders(res.headers);
  });

  it("add HSTS only in production", async () => {
    const responses = [
      await send("/health", {}, prod),
      await send("/nope", {}, prod),
      await send("/api/v1/agents/register", { method: "POST", headers: { "content-type": "application/json" }, body: "{" }, prod),
      await send("/api/v1/agents/me", { method: "OPTIONS" }, prod),
      await send("/docs", {}, prod),
    ];
    expect(responses.map((r) => r.status)).toEqual([200, 404, 400, 204, 200]);
    for (const res of responses) expect(res.headers.get("strict-transport-security")).toBe(HSTS);
    expectApiSecurityHeaders(responses[0]!.headers, true);
    for (const res of [await t.call("GET", "/health"), await t.call("GET", "/docs")]) {
      expect(res.headers.get("strict-transport-security")).toBeNull();
    }
  });

  it("are not defeated by request headers", async () => {
    const res = await t.call("GET", "/health", {
      headers: { "content-security-policy": "default-src *", "x-frame-options": "ALLOWALL" },
    });
    expectApiSecurityHeaders(res.headers);
  });
});

describe("/docs", () => {
  it("renders script-free HTML under its own CSP", async () => {
    const res = await t.call("GET", "/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const csp = res.headers.get("content-security-policy")!;
    expect(csp).toBeTruthy();
    expect(csp).not.toBe(API_CSP);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/script-src/);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("x-request-id")).toMatch(UUIDV7);
    expect(res.text).toMatch(/^<!doctype html>/i);
    expect(res.text.toLowerCase()).not.toContain("<script");
    expect(res.text).toContain("/api/v1/openapi.json");
  });

  it("lists every route with its method and path", async () => {
    const res = await t.call("GET", "/docs");
    expect(t.routes.length).toBeGreaterThan(0);
    for (const route of t.routes) {
      const path = route.path.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
      expect(res.text, path).toContain(`<code>${path}</code>`);
      expect(res.text, route.operationId).toContain(`id="${route.operationId}"`);
      expect(res.text).toMatch(new RegExp(`<span class="m">${route.method}</span> <code>${path.replace(/[{}]/g, "\\$&")}</code>`));
    }
    // Shared schemas that operations point to with $ref are shown too.
    for (const name of Object.keys(t.openapi.components.schemas)) expect(res.text).toContain(`id="schema-${name}"`);
  });
});

describe("OpenAPI document", () => {
  let doc: any;
  beforeAll(async () => {
    const res = await t.call("GET", "/api/v1/openapi.json");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    doc = res.json;
  });

  it("is a plausible OpenAPI 3.1 document", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect(typeof doc.info.title).toBe("string");
    expect(typeof doc.info.version).toBe("string");
    expect(doc.servers).toEqual([{ url: "http://clawgram.test" }]);
    expect(doc.components.securitySchemes.agentKey).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.components.schemas.Error.required).toEqual(["success", "error", "code", "request_id"]);
    expect(doc.components.schemas.Error.properties.hint).toEqual({ type: "string" });
    for (const path of Object.keys(doc.paths)) expect(path).toMatch(/^\/[A-Za-z0-9_{}/.-]*$/);
    expect(JSON.stringify(doc)).not.toMatch(/"\/[^"]*:[a-z_]+[^"]*":/); // no Hono-style :params left in paths
  });

  it("is the same document the app built", () => {
    expect(doc).toEqual(JSON.parse(JSON.stringify(t.openapi)));
  });

  it("contains every route with the right method, once", () => {
    const ids = new Set<string>();
    let operations = 0;
    for (const methods of Object.values<any>(doc.paths)) operations += Object.keys(methods).length;
    expect(operations).toBe(t.routes.length);
    for (const route of t.routes) {
      const path = route.path.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
      const op = doc.paths[path]?.[route.method];
      expect(op, `${route.method} ${path}`).toBeDefined();
      expect(op.operationId).toBe(route.operationId);
      expect(ids.has(op.operationId)).toBe(false);
      ids.add(op.operationId);
      const success = String(route.status ?? 200);
      expect(op.responses[success].content["application/json"].schema.required).toEqual(["success", "data", "request_id"]);
      expect(op.responses["500"].content["application/json"].schema).toEqual({ $ref: "#/components/schemas/Error" });
      for (const [, param] of path.matchAll(/\{([^}]+)\}/g)) {
        expect(op.parameters).toContainEqual(expect.objectContaining({ name: param, in: "path", required: true }));
      }
      if (route.auth === "agent" || route.auth === "agent+avatar") {
        expect(op.security).toEqual([{ agentKey: [] }]);
        expect(op.responses["401"]).toBeDefined();
      }
      if (route.body) expect(op.requestBody.content["application/json"].schema).toBeDefined();
      else if (route.rawBody) expect(Object.keys(op.requestBody.content).sort()).toEqual([...route.rawBody.contentTypes].sort());
      else expect(op.requestBody).toBeUndefined();
    }
  });

  it("describes the register body from the validating schema", () => {
    const op = doc.paths["/api/v1/agents/register"].post;
    expect(op.requestBody.required).toBe(true);
    const schema = op.requestBody.content["application/json"].schema;
    expect(schema.type).toBe("object");
    expect(schema.properties.name).toMatchObject({ type: "string", minLength: 3, maxLength: 20 });
    expect(schema.properties.description).toMatchObject({ type: "string", maxLength: 160 });
    expect(schema.required).toEqual(expect.arrayContaining(["name", "description"]));
    expect(op.responses["201"]).toBeDefined();
    expect(op.responses["200"]).toBeUndefined();
  });

  it("keeps shared schemas under components.schemas, not in local $defs", () => {
    expect(JSON.stringify(doc)).not.toContain("$defs");
    for (const [name, schema] of Object.entries<any>(doc.components.schemas)) {
      expect(name).toMatch(/^[A-Za-z0-9_.-]+$/);
      expect(typeof schema).toBe("object");
    }
  });

  it("has only resolvable $refs", () => {
    const refs: string[] = [];
    (function walk(v: unknown) {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === "object") {
        for (const [k, child] of Object.entries(v)) {
          if (k === "$ref" && typeof child === "string") refs.push(child);
          else walk(child);
        }
      }
    })(doc);
    for (const ref of refs) {
      expect(ref).toMatch(/^#\//);
      let node: any = doc;
      for (const part of ref.slice(2).split("/")) node = node?.[part.replace(/~1/g, "/").replace(/~0/g, "~")];
      expect(node, ref).toBeDefined();
    }
  });
});

describe("CORS", () => {
  it("adds nothing without an Origin header", async () => {
    const { name } = await t.registerAgent();
    for (const res of [await t.call("GET", "/health"), await t.call("GET", `/api/v1/agents/${name}`), await t.call("GET", "/nope")]) {
      expectNoCors(res.headers);
    }
  });

  it.each(HEALTH_PATHS)("gives any origin * on the public read %s", async (path) => {
    for (const origin of ["https://random.example", ALLOWED, "null", "http://localhost:5173"]) {
      const res = await t.call("GET", path, { headers: { origin } });
      expectOk(res);
      expectCors(res.headers, "*");
    }
    const head = await send(path, { method: "HEAD", headers: { origin: "https://random.example" } });
    expect(head.status).toBe(200);
    expectCors(head.headers, "*");
  });

  it("echoes an allowlisted origin on a non-public route, with Vary: Origin", async () => {
    const { name } = await t.registerAgent();
    for (const origin of [ALLOWED, "http://b.example:8080", "https://c.example"]) {
      const res = await t.call("GET", `/api/v1/agents/${name}`, { headers: { origin } });
      expectOk(res);
      expectCors(res.headers, origin);
    }
  });

  it("echoes an allowlisted origin on error responses too", async () => {
    const responses = [
      await t.call("GET", "/api/v1/agents/nobody_here", { headers: { origin: ALLOWED } }),
      await register({ name: "x" }, { origin: ALLOWED }),
      await t.call("GET", "/api/v1/agents/me", { headers: { origin: ALLOWED } }),
    ];
    expect(responses.map((r) => r.status)).toEqual([404, 400, 401]);
    for (const res of responses) expectCors(res.headers, ALLOWED);
  });

  it("processes a request from an unlisted origin but adds no CORS headers", async () => {
    const { name } = await t.registerAgent();
    for (const origin of [
      "https://evil.example",
      "http://a.example",
      "https://a.example:8443",
      "https://a.example.evil.example",
      "https://sub.a.example",
      "http://b.example",
      "null",
      "https://A.example/",
      "*",
    ]) {
      const res = await t.call("GET", `/api/v1/agents/${name}`, { headers: { origin } });
      expectOk(res);
      expect(res.json.data.name).toBe(name);
      expectNoCors(res.headers);
    }
    const created = await register({ name: "cors_unlisted", description: "x" }, { origin: "https://evil.example" });
    expectOk(created, 201);
    expectNoCors(created.headers);
    expect(await agentRows("cors_unlisted")).toBe(1);
  });

  it("does not give * to writes on public paths", async () => {
    const res = await t.call("POST", "/health", { headers: { origin: "https://evil.example" } });
    expectError(res, 404, "not_found");
    expectNoCors(res.headers);
  });

  it("answers a preflight without Origin with an empty 204", async () => {
    for (const path of ["/health", "/api/v1/agents/register", "/no/such/route"]) {
      const res = await preflight(path, { "access-control-request-method": "POST" });
      expect(res.status).toBe(204);
      expect(res.text).toBe("");
      expectNoCors(res.headers);
    }
  });

  it("allows a preflight from an allowlisted origin on any route", async () => {
    for (const [path, method] of [
      ["/api/v1/agents/register", "POST"],
      ["/api/v1/agents/me", "PATCH"],
      ["/api/v1/agents/someone", "GET"],
      ["/health", "POST"],
    ] as const) {
      const res = await preflight(path, {
        origin: ALLOWED,
        "access-control-request-method": method,
        "access-control-request-headers": "authorization,content-type",
      });
      expect(res.status, `${method} ${path}`).toBe(204);
      expect(res.text).toBe("");
      expectCors(res.headers, ALLOWED);
    }
  });

  it("allows a preflight from any origin for GET/HEAD on a public read", async () => {
    for (const path of HEALTH_PATHS) {
      for (const method of ["GET", "HEAD"]) {
        const res = await preflight(path, { origin: "https://random.example", "access-control-request-method": method });
        expect(res.status).toBe(204);
        expect(res.text).toBe("");
        expectCors(res.headers, "*");
      }
    }
  });

  it("denies other preflights with 403 forbidden CORS origin denied", async () => {
    for (const [path, method, origin] of [
      ["/api/v1/agents/register", "POST", "https://evil.example"],
      ["/api/v1/agents/someone", "GET", "https://evil.example"],
      ["/api/v1/agents/me", "PATCH", "http://a.example"],
      ["/health", "POST", "https://evil.example"],
      ["/healthz", "DELETE", "https://evil.example"],
      ["/api/v1/healthz", "", "https://evil.example"],
    ] as const) {
      const headers: Record<string, string> = { origin };
      if (method) headers["access-control-request-method"] = method;
      const res = await preflight(path, headers);
      expectError(res, 403, "forbidden", "CORS origin denied");
      expectNoCors(res.headers);
      expectApiSecurityHeaders(res.headers);
    }
  });

  it("handles preflight before the credential-in-query check", async () => {
    const res = await preflight("/health?api_key=x", { origin: "https://random.example", "access-control-request-method": "GET" });
    expect(res.status).toBe(204);
    expectCors(res.headers, "*");
  });

  it("never runs the handler on a preflight", async () => {
    const res = await send("/api/v1/agents/register", {
      method: "OPTIONS",
      headers: { origin: ALLOWED, "access-control-request-method": "POST", "content-type": "application/json" },
    });
    expect(res.status).toBe(204);
    expect(await agentRows("preflight_only")).toBe(0);
  });
});

describe("credentials in the query string", () => {
  const keys = ["api_key", "apikey", "apiKey", "access_token", "authorization", "API_KEY", "ApiKey", "ACCESS_TOKEN", "Authorization"];

  it.each(keys)("?%s= on a public route → 401 invalid_api_key", async (key) => {
    for (const path of [`/health?${key}=claw_test_x`, `/api/v1/healthz?a=1&${key}=`, `/healthz?${key}`]) {
      const res = await t.call("GET", path);
      expectError(res, 401, "invalid_api_key", "Invalid API key");
    }
  });

  it("applies to every route, including writes, unknown routes and a valid bearer", async () => {
    const { key, name } = await t.registerAgent();
    expectError(await t.call("GET", `/api/v1/agents/${name}?apiKey=${key}`), 401, "invalid_api_key");
    expectError(await t.call("GET", `/api/v1/agents/me?access_token=${key}`, { key }), 401, "invalid_api_key");
    expectError(await t.call("GET", "/api/v1/nowhere?api_key=1"), 401, "invalid_api_key");
    const write = await register({ name: "query_cred", description: "x" }, {});
    expectOk(write, 201);
    const refused = await t.call("POST", "/api/v1/agents/register?authorization=x", { body: { name: "query_cred2", description: "x" } });
    expectError(refused, 401, "invalid_api_key");
    expect(await agentRows("query_cred2")).toBe(0);
  });

  it("decodes percent-encoded keys", async () => {
    expectError(await t.call("GET", "/health?api%5Fkey=x"), 401, "invalid_api_key");
    expectError(await t.call("GET", "/health?%61pikey=x"), 401, "invalid_api_key");
  });

  it("lets other query keys through", async () => {
    for (const query of ["key=1", "token=x", "api=1", "apikeys=1", "api_key_hint=1", "q=api_key", "bearer=x", "x=access_token"]) {
      const res = await t.call("GET", `/health?${query}`);
      expectOk(res);
    }
  });
});

describe("health", () => {
  it.each(HEALTH_PATHS)("GET %s → 200 {status:ok}", async (path) => {
    const res = await t.call("GET", path);
    expectOk(res);
    expect(res.json.data).toEqual({ status: "ok" });
    expectApiSecurityHeaders(res.headers);
  });

  it("does not care about a bad Authorization header", async () => {
    const res = await t.call("GET", "/health", { headers: { authorization: "Bearer nope nope" } });
    expectOk(res);
  });
});

describe("internal errors", () => {
  let broken: TestApp;
  beforeAll(async () => {
    const db = await createTestDatabase();
    broken = await createTestApp({}, db);
    await db.close();
  });

  it("answer 500 internal_error without leaking internals", async () => {
    const responses = [
      await send("/api/v1/agents/register", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "broken_db", description: "x" }),
      }, broken),
      await send("/api/v1/agents/someone", {}, broken),
      await send("/api/v1/agents/me", { headers: { authorization: "Bearer claw_test_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG" } }, broken),
    ];
    for (const res of responses) {
      expectError(res, 500, "internal_error", "Internal server error");
      expect(res.json).not.toHaveProperty("hint");
      expectApiSecurityHeaders(res.headers);
      for (const leak of [/stack/i, /\bat [\w.<>]+ \(/, /sql/i, /postgres/i, /connection/i, /select|insert/i, /127\.0\.0\.1/, /\.ts\b/, /Error:/]) {
        expect(res.text).not.toMatch(leak);
      }
    }
  });

  it("still validates before touching the database", async () => {
    const res = await send("/api/v1/agents/register", { method: "POST", headers: { "content-type": "application/json" }, body: "{" }, broken);
    expectError(res, 400, "validation_error");
  });
});

describe("timestamps", () => {
  it("are ISO-8601 UTC with milliseconds", async () => {
    const { name, key } = await t.registerAgent();
    const found: string[] = [];
    const collect = (v: unknown, key = ""): void => {
      if (Array.isArray(v)) v.forEach((x) => collect(x));
      else if (v && typeof v === "object") for (const [k, child] of Object.entries(v)) collect(child, k);
      else if (typeof v === "string" && (key.endsWith("_at") || key === "last_active")) found.push(v);
    };
    for (const res of [await t.call("GET", `/api/v1/agents/${name}`), await t.call("GET", "/api/v1/agents/me", { key })]) {
      expectOk(res);
      collect(res.json.data);
    }
    expect(found.length).toBeGreaterThanOrEqual(2);
    for (const ts of found) {
      expect(ts).toMatch(ISO_MS_UTC);
      expect(new Date(ts).toISOString()).toBe(ts);
      expect(Math.abs(Date.now() - Date.parse(ts))).toBeLessThan(5 * 60_000);
    }
  });
});

describe("over a real socket", () => {
  let server: ServerType;
  let port: number;
  beforeAll(async () => {
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: t.app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
    });
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      if ("closeAllConnections" in server) server.closeAllConnections();
    });
  });

  /** A raw HTTP/1.1 request; `chunked` streams the body in pieces with Transfer-Encoding: chunked. */
  function rawRequest(
    path: string,
    options: { method?: string; headers?: Record<string, string>; body?: string; chunked?: boolean; agent?: http.Agent },
  ): Promise<Res> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...options.headers };
      if (options.body !== undefined && !options.chunked) headers["content-length"] = String(Buffer.byteLength(options.body));
      let answered = false;
      const req = http.request({ host: "127.0.0.1", port, path, method: options.method ?? "GET", headers, agent: options.agent ?? false }, (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") h.set(k, v);
          const text = Buffer.concat(chunks).toString("utf8");
          let json: any;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode!, headers: h, text, json });
        });
        res.on("error", reject);
      });
      // The server may answer and stop reading before the whole oversized body is sent; an error before any answer
      // (a reset instead of a 413) fails the test.
      req.on("error", (err) => {
        if (!answered) reject(err);
      });
      if (options.body !== undefined) {
        if (options.chunked) {
          for (let i = 0; i < options.body.length; i += 64 * 1024) req.write(options.body.slice(i, i + 64 * 1024));
        } else {
          req.write(options.body);
        }
      }
      req.end();
    });
  }

  it("serves the envelope with X-Request-Id", async () => {
    const res = await rawRequest("/health", { headers: { "x-request-id": "mine" } });
    expectOk(res);
    expectApiSecurityHeaders(res.headers);
  });

  it("refuses a 2 MiB body with Content-Length with 413", async () => {
    const res = await rawRequest("/api/v1/agents/register", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: paddedRegisterBody("sock_declared", 2 * MIB),
    });
    expectError(res, 413, "payload_too_large");
    expect(await agentRows("sock_declared")).toBe(0);
  });

  it("refuses a 2 MiB chunked body with 413", async () => {
    const res = await rawRequest("/api/v1/agents/register", {
      method: "POST",
      headers: { "content-type": "application/json", "transfer-encoding": "chunked" },
      body: paddedRegisterBody("sock_chunked", 2 * MIB),
      chunked: true,
    });
    expectError(res, 413, "payload_too_large");
    expect(await agentRows("sock_chunked")).toBe(0);
  });

  it("accepts a small chunked JSON body", async () => {
    const res = await rawRequest("/api/v1/agents/register", {
      method: "POST",
      headers: { "content-type": "application/json", "transfer-encoding": "chunked" },
      body: JSON.stringify({ name: "sock_small", description: "x" }),
      chunked: true,
    });
    expectOk(res, 201);
    expect(await agentRows("sock_small")).toBe(1);
  });

  it("keeps serving after refusing oversized bodies", async () => {
    const res = await rawRequest("/api/v1/healthz", {});
    expectOk(res);
  });

  it.each([
    ["declared JSON", "application/json", false, 413],
    ["declared text", "text/plain", false, 413],
    ["small declared text", "text/plain", false, 415],
    ["chunked JSON", "application/json", true, 413],
    ["chunked text", "text/plain", true, 415],
  ] as const)("does not break a kept-alive connection with a refused %s body", async (_label, contentType, chunked, status) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const body = status === 413 || chunked ? paddedRegisterBody("keepalive_big", 2 * MIB) : "x".repeat(10_000);
      const refused = await rawRequest("/api/v1/agents/register", {
        method: "POST",
        headers: { "content-type": contentType, ...(chunked ? { "transfer-encoding": "chunked" } : {}) },
        body,
        chunked,
        agent,
      });
      expectError(refused, status, status === 413 ? "payload_too_large" : "unsupported_media_type");
      // The next requests (on the same socket, or on a new one when the server said `Connection: close`) succeed.
      const next = await rawRequest("/api/v1/agents/register", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "x", description: "x" }),
        agent,
      });
      expectError(next, 400, "validation_error", "Request validation failed");
      expectOk(await rawRequest("/api/v1/healthz", { agent }));
    } finally {
      agent.destroy();
    }
  });
});
