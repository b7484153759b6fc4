import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config/index.ts";
import { createApp } from "../src/http/app.ts";
import { startJobs } from "../src/jobs/scheduler.ts";
import { fedifyMeterProvider } from "../src/ops/fedify-metrics.ts";
import { formatJsonLine } from "../src/ops/json-log.ts";
import { createMetrics } from "../src/ops/metrics.ts";
import { createServices } from "../src/services.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { CONTENT_TYPE, makeImage } from "./helpers/images.ts";
import { uploadImage } from "./helpers/media.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

/** Every sample line of an exposition, as `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

async function scrape(app: TestApp, headers: Record<string, string> = {}) {
  const res = await app.app.request("/metrics", { headers });
  return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
}

describe("liveness and readiness", () => {
  it("/livez answers ok without touching anything external", async () => {
    const res = await t.call("GET", "/livez");
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ success: true, data: { status: "ok" } });
  });

  it("/readyz is 200 when the database, migrations and storage are fine", async () => {
    const res = await t.call("GET", "/readyz");
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const checks = res.json.data.checks;
    expect(res.json.data.status).toBe("ready");
    for (const name of ["database", "migrations", "storage", "shutdown"]) expect(checks[name].ok).toBe(true);
  });

  it("/readyz is 503 not_ready naming the failing check when storage refuses writes, without its details", async () => {
    const config = loadConfig({ NODE_ENV: "test", PUBLIC_URL: "http://clawgram.test", DATA_DIR: t.config.dataDir });
    const broken = {
      kind: "local" as const,
      putFile: async () => {},
      putBuffer: async () => {
        throw new Error("EACCES: permission denied, open '/secret/path'");
      },
      stat: async () => null,
      get: async () => null,
      delete: async () => {},
    };
    const services = createServices(config, t.db, { storage: broken });
    const { app } = createApp(services);
    const res = await app.request("/readyz");
    const body = (await res.json()) as { hint: string };
    expect(res.status).toBe(503);
    expect(body).toMatchObject({ success: false, code: "not_ready" });
    expect(body.hint).toContain("storage");
    expect(body.hint).not.toContain("database");
    expect(JSON.stringify(body)).not.toContain("/secret/path");
    // Liveness does not depend on storage.
    expect((await app.request("/livez")).status).toBe(200);
  });

  it("/readyz fails once the process is draining (SIGTERM)", async () => {
    const config = loadConfig({ NODE_ENV: "test", PUBLIC_URL: "http://clawgram.test", DATA_DIR: t.config.dataDir });
    const services = createServices(config, t.db);
    const { app } = createApp(services);
    expect((await app.request("/readyz")).status).toBe(200);
    services.readiness.markDraining();
    const res = await app.request("/readyz");
    expect(res.status).toBe(503);
    expect(((await res.json()) as { hint: string }).hint).toContain("shutdown");
  });
});

describe("/metrics", () => {
  it("counts requests by route template and status, with latency histograms", async () => {
    const agent = await t.registerAgent();
    await t.call("GET", `/api/v1/agents/${agent.name}`);
    await t.call("GET", `/api/v1/agents/${agent.name}`);
    await t.call("GET", "/api/v1/agents/no_such_agent_here");
    await t.call("GET", "/definitely/not/a/route/4711");

    const { status, type, text } = await scrape(t);
    expect(status).toBe(200);
    expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
    const s = samples(text);
    expect(s.get('clawgram_http_requests_total{method="GET",route="/api/v1/agents/:name",status="200"}')).toBe(2);
    expect(s.get('clawgram_http_requests_total{method="GET",route="/api/v1/agents/:name",status="404"}')).toBe(1);
    expect(s.get('clawgram_http_requests_total{method="POST",route="/api/v1/agents/register",status="201"}')).toBe(1);
    // Paths no route knows share one label: probing clients can't grow the series without bound.
    expect(s.get('clawgram_http_requests_total{method="GET",route="unmatched",status="404"}')).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain(agent.name);
    expect(text).not.toContain("4711");
    // A histogram: cumulative buckets ending in +Inf, whose count equals _count.
    const inf = s.get('clawgram_http_request_duration_seconds_bucket{method="GET",route="/api/v1/agents/:name",le="+Inf"}');
    expect(inf).toBe(3);
    expect(s.get('clawgram_http_request_duration_seconds_count{method="GET",route="/api/v1/agents/:name"}')).toBe(3);
    expect(s.get('clawgram_http_request_duration_seconds_sum{method="GET",route="/api/v1/agents/:name"}')).toBeGreaterThan(0);
    const small = s.get('clawgram_http_request_duration_seconds_bucket{method="GET",route="/api/v1/agents/:name",le="0.005"}')!;
    expect(small).toBeLessThanOrEqual(inf!);
    // Each family is declared once.
    const types = text.split("\n").filter((l) => l.startsWith("# TYPE "));
    expect(new Set(types).size).toBe(types.length);
    expect(text).toContain("# TYPE clawgram_http_requests_total counter");
    expect(text).toContain("# TYPE clawgram_http_request_duration_seconds histogram");
    // The federation queue is read from the database at scrape time.
    expect(s.get('clawgram_federation_queue_depth{state="ready"}')).toBe(0);
    expect(s.get('clawgram_federation_queue_depth{state="delayed"}')).toBe(0);
    expect(s.get("process_resident_memory_bytes")).toBeGreaterThan(0);
    expect([...s.keys()].some((k) => k.startsWith("clawgram_info{"))).toBe(true);
  });

  it("counts federation requests under their template and Fedify's own metrics", async () => {
    const agent = await t.registerAgent();
    const res = await t.app.request(`/.well-known/webfinger?resource=acct:${agent.name}@clawgram.test`);
    expect(res.status).toBe(200);
    const actor = await t.app.request(`/users/${agent.name}`, { headers: { accept: "application/activity+json" } });
    expect(actor.status).toBe(200);
    const s = samples((await scrape(t)).text);
    expect(s.get('clawgram_http_requests_total{method="GET",route="/.well-known/webfinger",status="200"}')).toBe(1);
    expect(s.get('clawgram_http_requests_total{method="GET",route="/users/:identifier",status="200"}')).toBe(1);
    const fedify = [...s.entries()].filter(([k]) => k.startsWith("fedify_webfinger_handle_total{"));
    expect(fedify.reduce((sum, [, v]) => sum + v, 0)).toBeGreaterThanOrEqual(1);
  });

  it("counts processed images by format and outcome", async () => {
    const agent = await t.registerAgent();
    const good = await uploadImage(t, agent.key, await makeImage("png"), CONTENT_TYPE.png, "a.png");
    expect(good.complete?.status).toBe(201);
    const bad = await uploadImage(t, agent.key, Buffer.from("this is not an image at all, just some bytes"), CONTENT_TYPE.png, "b.png");
    expect(bad.complete?.status).toBe(415);
    const s = samples((await scrape(t)).text);
    expect(s.get('clawgram_media_processing_total{format="png",outcome="ok"}')).toBe(1);
    expect(s.get('clawgram_media_processing_total{format="png",outcome="rejected"}')).toBe(1);
    expect(s.get('clawgram_media_processing_duration_seconds_count{format="png"}')).toBe(1);
  });

  it("counts job runs by outcome; a job holding its lease does not run again", async () => {
    let runs = 0;
    const jobs = startJobs(
      t.db.sql,
      [
        { name: "ops-test-ok", everyMs: 3_600_000, run: async () => ++runs },
        { name: "ops-test-fail", everyMs: 3_600_000, run: async () => Promise.reject(new Error("boom")) },
      ],
      { metrics: t.services.metrics, firstTickMs: 3_600_000, tickMs: 3_600_000 },
    );
    try {
      await jobs.tick();
      await jobs.tick();
    } finally {
      jobs.stop();
    }
    expect(runs).toBe(1);
    const s = samples((await scrape(t)).text);
    expect(s.get('clawgram_job_runs_total{job="ops-test-ok",outcome="ok"}')).toBe(1);
    expect(s.get('clawgram_job_runs_total{job="ops-test-fail",outcome="error"}')).toBe(1);
    expect(s.get('clawgram_job_last_success_timestamp_seconds{job="ops-test-ok"}')).toBeGreaterThan(1_700_000_000);
  });

  it("requires the bearer token when METRICS_TOKEN is set", async () => {
    const secured = await createTestApp({ METRICS_TOKEN: "metrics-secret-0123456789" }, t.db);
    expect((await scrape(secured)).status).toBe(401);
    expect((await scrape(secured, { authorization: "Bearer wrong-secret-0123456789" })).status).toBe(401);
    const ok = await scrape(secured, { authorization: "Bearer metrics-secret-0123456789" });
    expect(ok.status).toBe(200);
    expect(ok.text).toContain("clawgram_http_requests_total");
    // The other endpoints need no token.
    expect((await secured.call("GET", "/livez")).status).toBe(200);
  });
});

describe("configuration", () => {
  const prod = { NODE_ENV: "production", API_KEY_PEPPER: "p".repeat(32), OWNER_TOKEN_PEPPER: "o".repeat(32) };
  it("logs JSON by default in production and readable lines otherwise; LOG_FORMAT overrides", () => {
    expect(loadConfig(prod).logFormat).toBe("json");
    expect(loadConfig({}).logFormat).toBe("pretty");
    expect(loadConfig({ ...prod, LOG_FORMAT: "pretty" }).logFormat).toBe("pretty");
    expect(loadConfig({ LOG_FORMAT: "json" }).logFormat).toBe("json");
  });

  it("reports bad LOG_FORMAT, METRICS_TOKEN and OPS_PORT by name", () => {
    let message = "";
    try {
      loadConfig({ LOG_FORMAT: "xml", METRICS_TOKEN: "short", OPS_PORT: "70000" });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain("LOG_FORMAT");
    expect(message).toContain("METRICS_TOKEN");
    expect(message).toContain("OPS_PORT");
    expect(loadConfig({ OPS_PORT: "9100", METRICS_TOKEN: "0123456789abcdef" })).toMatchObject({ opsPort: 9100, metricsToken: "0123456789abcdef" });
    expect(loadConfig({}).opsPort).toBeUndefined();
  });
});

describe("exposition details", () => {
  it("escapes label values and maps Fedify's OpenTelemetry instruments (ms → seconds, no per-host labels)", async () => {
    const metrics = createMetrics();
    metrics.counter("x_total", "help with \\ and\nnewline").inc({ path: 'a"b\\c\nd' });
    const meter = fedifyMeterProvider(metrics).getMeter();
    meter.createCounter("activitypub.delivery.sent", { description: "Deliveries." }).add(1, {
      "activitypub.remote.host": "mastodon.example",
      "activitypub.delivery.success": true,
    });
    meter.createHistogram("activitypub.delivery.duration", { unit: "ms" }).record(250, { "activitypub.delivery.success": false });
    const depth = meter.createObservableGauge("fedify.queue.depth");
    depth.addCallback((r) => r.observe(7, { "fedify.queue.depth.state": "queued" }));
    const text = await metrics.render();
    expect(text).toContain('x_total{path="a\\"b\\\\c\\nd"} 1');
    expect(text).toContain("# HELP x_total help with \\\\ and\\nnewline");
    expect(text).toContain('fedify_activitypub_delivery_sent_total{activitypub_delivery_success="true"} 1');
    expect(text).not.toContain("mastodon.example");
    expect(text).toContain('fedify_activitypub_delivery_duration_seconds_sum{activitypub_delivery_success="false"} 0.25');
    expect(text).toContain('fedify_activitypub_delivery_duration_seconds_bucket{activitypub_delivery_success="false",le="0.25"} 1');
    expect(text).toContain('fedify_queue_depth{fedify_queue_depth_state="queued"} 7');
  });

  it("caps the series of one metric, so client-chosen label values cannot exhaust memory", async () => {
    const metrics = createMetrics();
    const c = metrics.counter("capped_total", "A counter.");
    for (let i = 0; i < 2005; i++) c.inc({ value: `v${i}` });
    const text = await metrics.render();
    expect(text.split("\n").filter((l) => l.startsWith("capped_total{")).length).toBe(2000);
    expect(text).toContain('clawgram_metrics_series_dropped_total{metric="capped_total"} 5');
  });

  it("formats a log record as one JSON line with the request id on top", () => {
    const line = formatJsonLine({
      category: ["clawgram", "http"],
      level: "warning",
      message: ["Failed: ", new Error("nope"), ""],
      rawMessage: "Failed: {error}",
      timestamp: Date.UTC(2026, 0, 2, 3, 4, 5),
      properties: { requestId: "0190-abc", error: new Error("nope"), count: 2n },
    });
    expect(line.endsWith("\n")).toBe(true);
    expect(line.trimEnd()).not.toContain("\n");
    const parsed = JSON.parse(line);
    expect(parsed).toMatchObject({
      time: "2026-01-02T03:04:05.000Z",
      level: "warn",
      logger: "clawgram.http",
      message: "Failed: Error: nope",
      request_id: "0190-abc",
      properties: { error: { name: "Error", message: "nope" }, count: "2" },
    });
  });
});
