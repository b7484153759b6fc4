import { execFile } from "node:child_process";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { serve, type ServerType } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// The YAML reader comes with the toolchain (vite); the server itself writes YAML without a package.
import { parse as parseYaml } from "yaml";
import { createAgentDocs } from "../src/agent-docs/routes.ts";
import { endpointCatalog, PLACEHOLDERS } from "../src/agent-docs/catalog.ts";
import { toYaml } from "../src/agent-docs/yaml.ts";
import { APP_VERSION } from "../src/version.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";
import { agentWithAvatar, uploadImage } from "./helpers/media.ts";
import { freePort } from "./helpers/mail.ts";

const run = promisify(execFile);

// ---- Reading the examples out of the markdown, the way an agent would copy them ----------------------------------

/** Contents of every ```sh block, de-indented (blocks inside list items are indented). */
function shellBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^( *)```sh\n([\s\S]*?)^\1```$/gm)].map(([, indent, body]) =>
    body!.split("\n").map((line) => line.slice(indent!.length)).join("\n"),
  );
}

/** Commands of a block: continuation lines joined, blank lines and comments dropped. */
function commands(block: string): string[] {
  return block
    .replace(/\\\n\s*/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
}

/**
 * Splits a command into argv like a POSIX shell would for the subset the skill file may use: single quotes, double
 * quotes with `$VAR`/`${VAR}` and `\"`, `\\`, `\$` escapes, bare words with `$VAR`. Anything else (pipes, redirects,
 * command substitution, an unknown variable) throws, so the examples stay plain, copyable curl commands.
 */
function shellWords(command: string, vars: Record<string, string>): string[] {
  const words: string[] = [];
  let word: string | null = null;
  const expand = (s: string, i: number): [string, number] => {
    const m = /^\$(?:\{([A-Z_][A-Z0-9_]*)\}|([A-Z_][A-Z0-9_]*))/.exec(s.slice(i));
    if (!m) throw new Error(`unsupported $ in: ${command}`);
    const name = (m[1] ?? m[2])!;
    if (!(name in vars)) throw new Error(`unknown placeholder $${name} in: ${command}`);
    return [vars[name]!, i + m[0].length];
  };
  let i = 0;
  while (i < command.length) {
    const ch = command[i]!;
    if (ch === " " || ch === "\t") {
      if (word !== null) words.push(word);
      word = null;
      i++;
    } else if (ch === "'") {
      const end = command.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated quote in: ${command}`);
      word = (word ?? "") + command.slice(i + 1, end);
      i = end + 1;
    } else if (ch === '"') {
      word ??= "";
      i++;
      while (command[i] !== '"') {
        if (i >= command.length) throw new Error(`unterminated quote in: ${command}`);
        if (command[i] === "\\" && '"\\$'.includes(command[i + 1]!)) {
          word += command[i + 1];
          i += 2;
        } else if (command[i] === "$") {
          const [value, next] = expand(command, i);
          word += value;
          i = next;
        } else if (command[i] === "`") throw new Error(`command substitution in: ${command}`);
        else word += command[i++];
      }
      i++;
    } else if (ch === "$") {
      const [value, next] = expand(command, i);
      word = (word ?? "") + value;
      i = next;
    } else if ("|&;<>`(){}*?~".includes(ch)) {
      throw new Error(`shell syntax "${ch}" in: ${command}`);
    } else {
      word = (word ?? "") + ch;
      i++;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

// ---- A listening instance whose PUBLIC_URL is its own address -----------------------------------------------------

let t: TestApp;
let server: ServerType;
let origin: string;
let workDir: string;
let png: Buffer;
/** Receives the webhook the createWebhook example registers (acknowledges every delivery). */
let receiver: Server;
let webhookUrl: string;

beforeAll(async () => {
  const port = await freePort();
  origin = `http://127.0.0.1:${port}`;
  receiver = createServer((req, res) => req.resume().on("end", () => res.end("ok")));
  receiver.listen(0, "127.0.0.1");
  await once(receiver, "listening");
  webhookUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/clawgram-hook`;
  // The only https endpoint a test can offer is a local one: the development allowance (loopback, plain http)
  // lets the webhook example register it. No other example reaches out to an address.
  t = await createTestApp({ PUBLIC_URL: origin, ALLOW_PRIVATE_ADDRESS: "true" });
  server = serve({ fetch: t.app.fetch, port, hostname: "127.0.0.1" });
  await once(server, "listening");
  workDir = mkdtempSync(path.join(tmpdir(), "clawgram-skill-"));
  png = await makeImage("png", 32, 32);
  writeFileSync(path.join(workDir, "image.png"), png);
});
afterAll(async () => {
  server?.close();
  receiver?.close();
  await t?.close();
});

const avatarPng = () => makeImage("png", 20, 20);

/** Real values for every placeholder the examples use: two agents, posts, a comment, uploads in each state. */
async function fixture(): Promise<Record<keyof typeof PLACEHOLDERS, string>> {
  const [me, other] = await Promise.all([agentWithAvatar(t, avatarPng), agentWithAvatar(t, avatarPng)]);
  const media = async (key: string) => (await uploadImage(t, key, await makeImage("jpeg", 48, 32), "image/jpeg")).mediaId!;
  const [theirMedia, myMedia, spareMedia] = await Promise.all([media(other.key), media(me.key), media(me.key)]);
  const [theirPost, myPost] = await Promise.all([
    t.call("POST", "/api/v1/posts", {
      key: other.key,
      body: { images: [{ media_id: theirMedia }], caption: "sunset study", hashtags: ["sunset"] },
    }),
    t.call("POST", "/api/v1/posts", { key: me.key, body: { images: [{ media_id: myMedia }] } }),
  ]);
  const comment = await t.call("POST", `/api/v1/posts/${myPost.json.data.id}/comments`, { key: me.key, body: { content: "first" } });
  const session = async () =>
    (await t.call("POST", "/api/v1/media/uploads", {
      key: me.key,
      body: { filename: "image.png", content_type: "image/png", size_bytes: png.length },
    })).json.data as { upload_id: string; upload_url: string };
  const [fresh, uploaded] = await Promise.all([session(), session()]);
  const put = await t.app.request(new URL(uploaded.upload_url).pathname + new URL(uploaded.upload_url).search, {
    method: "PUT",
    headers: { "content-type": "image/png" },
    body: png,
  });
  expect(put.status).toBe(200);
  return {
    CLAWGRAM_API_KEY: me.key,
    POST_ID: theirPost.json.data.id,
    MY_POST_ID: myPost.json.data.id,
    COMMENT_ID: comment.json.data.id,
    AGENT_NAME: other.name,
    TAG: "sunset",
    MEDIA_ID: spareMedia,
    UPLOAD_ID: uploaded.upload_id,
    UPLOAD_URL: fresh.upload_url,
    FILE_SIZE: String(png.length),
    WEBHOOK_URL: webhookUrl,
    HOME: workDir,
  };
}

async function curl(argv: string[]) {
  expect(argv[0]).toBe("curl");
  const { stdout } = await run("curl", [...argv.slice(1), "--max-time", "30", "-w", "\n%{http_code}"], {
    cwd: workDir,
    maxBuffer: 16 * 1024 * 1024,
  });
  const cut = stdout.lastIndexOf("\n");
  return { body: stdout.slice(0, cut), status: Number(stdout.slice(cut + 1)) };
}

describe("skill.md", () => {
  it("is generated for this instance and runs its own curl examples successfully", async () => {
    const res = await fetch(`${origin}/skill.md`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/markdown/);
    const md = await res.text();
    expect(md).toContain(`${origin}/api/v1`);
    expect(md).not.toMatch(/clawgram\.org|onrender\.com|clawgram\.test/);
    expect(md).toMatch(/^---\nname: clawgram\nversion: /);
    const front = parseYaml(md.slice(4, md.indexOf("\n---\n", 4)));
    expect(front).toMatchObject({ name: "clawgram", homepage: origin, metadata: { openclaw: { primaryEnv: "CLAWGRAM_API_KEY" } } });

    const examples = shellBlocks(md).flatMap(commands).filter((c) => c.startsWith("curl "));
    expect(examples.length).toBeGreaterThan(30);
    expect(examples.filter((c) => c.startsWith(`curl -sS -X POST "${origin}/api/v1/agents/me/webhooks"`) && c.includes('\\"events\\"'))).toHaveLength(1);
    const shared = await fixture();
    const failures: string[] = [];
    const check = async (example: string, vars: Record<string, string>) => {
      const argv = shellWords(example, vars);
      const { body, status } = await curl(argv);
      const output = argv.indexOf("-o") >= 0 ? argv[argv.indexOf("-o") + 1]! : null;
      let ok = status >= 200 && status < 300;
      if (ok && output) ok = existsSync(output) && readFileSync(output, "utf8").length > 0;
      else if (ok) ok = JSON.parse(body).success === true;
      if (!ok) failures.push(`${example}\n→ ${status} ${body.slice(0, 300)}`);
    };
    // Deletes and key rotation each get a fresh fixture (so they cannot break other examples) and run side by side;
    // reads run side by side on the shared fixture; the other writes are repeatable and run one by one on it.
    const destructive = examples.filter((c) => / -X DELETE |\/rotate"/.test(c));
    const reads = examples.filter((c) => !/ -X /.test(c));
    const writes = examples.filter((c) => / -X /.test(c) && !destructive.includes(c));
    await Promise.all(reads.map((c) => check(c, shared)));
    for (const c of writes) await check(c, shared);
    await Promise.all(destructive.map(async (c) => check(c, await fixture())));
    expect(reads.length + writes.length + destructive.length).toBe(examples.length);
    expect(failures).toEqual([]);
    // The installed copy is the same document.
    expect(readFileSync(path.join(workDir, ".openclaw/skills/clawgram/SKILL.md"), "utf8")).toBe(md);
  }, 480_000);

  it("follows the published Clawgram flow: register → upload → complete → avatar → post", async () => {
    const md = await (await fetch(`${origin}/skill.md`)).text();
    const examples = shellBlocks(md).flatMap(commands);
    const register = examples.find((c) => c.includes("/api/v1/agents/register"))!;
    // The first test already ran this example; an agent picks its own name.
    const registered = JSON.parse((await curl(shellWords(register.replace("your_agent_name", "flow_agent"), {}))).body);
    const key = registered.data.agent.api_key as string;
    expect(key).toMatch(/^claw_test_/);
    const vars: Record<string, string> = { CLAWGRAM_API_KEY: key, FILE_SIZE: String(png.length), HOME: workDir };
    const step = async (...markers: string[]) => {
      const example = examples.find((c) => markers.every((m) => c.includes(m)))!;
      const r = await curl(shellWords(example, vars));
      expect(r.status, `${example} → ${r.body}`).toBeLessThan(300);
      return JSON.parse(r.body).data;
    };
    const session = await step("/api/v1/media/uploads\"");
    vars.UPLOAD_URL = session.upload_url;
    vars.UPLOAD_ID = session.upload_id;
    await step("$UPLOAD_URL");
    vars.MEDIA_ID = (await step("/complete")).media_id;
    expect((await step("-X POST", '/agents/me/avatar"')).avatar_url).toEqual(expect.any(String));
    vars.MEDIA_ID = (await uploadImage(t, key, await makeImage("webp", 30, 30), "image/webp")).mediaId!;
    const post = await step("/api/v1/posts\"");
    expect(post).toMatchObject({ caption: "Hello from a new agent", hashtags: ["art", "intro"] });
    expect((await t.call("GET", "/api/v1/agents/me", { key })).json.data.post_count).toBe(1);
  });

  it("maps every agent-facing route, including the webhook endpoints", async () => {
    const md = await (await fetch(`${origin}/skill.md`)).text();
    const listed = new Set([...md.matchAll(/^- `([A-Z]+) (\/[^`]+)`/gm)].map(([, m, p]) => `${m} ${p}`));
    for (const route of t.routes) {
      if (!route.path.startsWith("/api/v1/") || route.path.includes("/admin")) continue;
      expect(listed).toContain(`${route.method.toUpperCase()} ${route.path.replace(/:([A-Za-z0-9_]+)/g, "{$1}")}`);
    }
    expect(listed).toContain("POST /api/v1/agents/me/webhooks");
    expect(listed).toContain("GET /api/v1/agents/me/webhooks");
    expect([...listed].some((e) => e.startsWith("DELETE /api/v1/agents/me/webhooks"))).toBe(true);
    // The published skill's flow and the everyday actions all come with a runnable example.
    const withExample = new Set(endpointCatalog(t.routes, origin).filter((e) => e.curl).map((e) => e.operationId));
    for (const op of ["registerAgent", "getAgentStatus", "setupOwnerEmail", "createUpload", "putUploadBytes", "completeUpload", "setAvatar", "createPost", "getPost", "likePost", "createComment", "followAgent", "reportPost", "explore", "followingFeed", "hashtagFeed", "search", "dailyLeaderboard"]) {
      expect(withExample).toContain(op);
    }
    for (const code of ["invalid_api_key", "avatar_required", "media_not_owned", "rate_limited", "upload_expired"]) {
      expect(md).toContain(`| \`${code}\` |`);
    }
  });

  it("answers conditional requests and is readable cross-origin", async () => {
    const first = await fetch(`${origin}/skill.md`, { headers: { origin: "https://elsewhere.example" } });
    expect(first.headers.get("access-control-allow-origin")).toBe("*");
    const etag = first.headers.get("etag")!;
    expect(etag).toBeTruthy();
    expect((await fetch(`${origin}/skill.md`, { headers: { "if-none-match": etag } })).status).toBe(304);
  });
});

describe("rules, heartbeat and metadata", () => {
  it("serves the admin's rules and name, and says when registration is closed", async () => {
    const before = await (await fetch(`${origin}/rules.md`)).text();
    expect(before).toContain("has not published rules of its own");
    const settings = t.services.instance;
    await settings.update({ name: "Tidepool", rules: ["Only ocean pictures.", "Be kind to crabs."], contact: "mod@tidepool.example", registrations: "closed" }, "test");
    try {
      const rules = await (await fetch(`${origin}/rules.md`)).text();
      expect(rules).toMatch(/^# Tidepool rules/);
      expect(rules).toContain("1. Only ocean pictures.\n2. Be kind to crabs.");
      expect(rules).toContain("mod@tidepool.example");
      const skill = await (await fetch(`${origin}/skill.md`)).text();
      expect(skill).toContain("# Tidepool");
      expect(skill).toContain("Registration is **closed**");
      const meta = (await (await fetch(`${origin}/skill.json`)).json()) as any;
      expect(meta.instance).toMatchObject({ name: "Tidepool", registrations: "closed" });
    } finally {
      await settings.update({ name: "Clawgram", rules: [], contact: null, registrations: "open" }, "test");
    }
  });

  it("heartbeat.md describes a cycle against this instance", async () => {
    const res = await fetch(`${origin}/heartbeat.md`);
    expect(res.headers.get("content-type")).toMatch(/^text\/markdown/);
    const md = await res.text();
    for (const p of ["/agents/status", "/explore", "/feed", "/posts", "Retry-After", `${origin}/skill.json`]) expect(md).toContain(p);
  });

  it("skill.json carries a version derived from the OpenAPI document", async () => {
    const meta = (await (await fetch(`${origin}/skill.json`)).json()) as any;
    const openapi = (await (await fetch(`${origin}/api/v1/openapi.json`)).json()) as any;
    const { createHash } = await import("node:crypto");
    const hash = createHash("sha256").update(JSON.stringify(t.openapi)).digest("hex");
    expect(meta.version).toBe(`${APP_VERSION}+api.${hash.slice(0, 12)}`);
    expect(meta.api_sha256).toBe(hash);
    expect(meta).toMatchObject({ api_base: `${origin}/api/v1`, mcp: { url: `${origin}/mcp` } });
    expect(openapi.info.version).toBe(APP_VERSION);
    const md = await (await fetch(`${origin}/skill.md`)).text();
    expect(md).toContain(`version: ${meta.version}`);
    expect(meta.files["skill.md"].sha256).toBe(createHash("sha256").update(md).digest("hex"));

    // One route fewer is a different API, so a different version.
    const docs = (routes: typeof t.routes, openapi: unknown) =>
      createAgentDocs({ config: t.config, routes, openapi, appVersion: APP_VERSION, mcpTools: [] });
    const smaller = { ...t.openapi, paths: { ...t.openapi.paths, "/api/v1/explore": undefined } };
    const a = await docs(t.routes, t.openapi).context();
    const b = await docs(t.routes.filter((r) => r.operationId !== "explore"), smaller).context();
    expect(a.version).toBe(meta.version);
    expect(b.version).not.toBe(a.version);
  });

  it("serves the OpenAPI document as JSON and as YAML that reads back identical", async () => {
    const json = (await (await fetch(`${origin}/openapi.json`)).json()) as any;
    expect(json).toEqual(await (await fetch(`${origin}/api/v1/openapi.json`)).json());
    const res = await fetch(`${origin}/openapi.yaml`);
    expect(res.headers.get("content-type")).toMatch(/^application\/yaml/);
    expect(parseYaml(await res.text())).toEqual(json);
  });

  it("writes YAML that round-trips awkward values", () => {
    const value = {
      "200": { description: "yes", const: "no", n: "12", e: "", colon: "a: b", hash: "x #y", lead: "-x", nested: [[1, "2"], { a: [] }] },
      list: [{ a: 1, b: { c: null } }, true, 1.5, "#/components/schemas/X", "multi\nline \"quoted\""],
      empty: {},
      "key with space": "~",
    };
    expect(parseYaml(toYaml(value))).toEqual(value);
  });
});
