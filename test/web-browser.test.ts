import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { serve } from "@hono/node-server";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";
import { freePort, latestMailTo } from "./helpers/mail.ts";
import { agentWithAvatar, uploadImage } from "./helpers/media.ts";

// The pages in real headless Chromium (Debian's `chromium`, no browser download). Skips where it is not installed.
const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = path.join(import.meta.dirname, "artifacts");
/** axe-core's browser build, evaluated in the page over the DevTools protocol (so the page's CSP stays strict). */
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

type AxeViolation = { id: string; impact: string | null; help: string; nodes: { target: unknown[]; failureSummary?: string }[] };
/** Runs axe-core (WCAG 2.x A/AA and best practices) on the page; returns the serious and critical violations. */
async function axeViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => "axe" in globalThis))) await page.evaluate(AXE_SOURCE);
  const violations = (await page.evaluate(() =>
    (globalThis as any).axe
      .run((globalThis as any).document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"] }, resultTypes: ["violations"] })
      .then((r: { violations: unknown }) => r.violations),
  )) as AxeViolation[];
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => `${JSON.stringify(n.target)} ${n.failureSummary ?? ""}`).join(" | ")}`);
}

describe.skipIf(!existsSync(CHROMIUM))("web pages in headless Chromium", () => {
  let t: TestApp;
  let server: ReturnType<typeof serve>;
  let base: string;
  let browser: Browser;
  let firstPost: string;
  let sensitivePost: string;
  let agentName: string;
  /** A post with 30 top-level comments (two pages), the 14 newest with a reply each. */
  let busyPost: string;
  let repliesPath: string;
  /** Console errors and CSP violations seen by any page: a clean run has none. */
  const problems: string[] = [];

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    t = await createTestApp({ PUBLIC_URL: base, HOT_CACHE_MS: "0" });
    server = serve({ fetch: t.app.fetch, port, hostname: "127.0.0.1" });
    const authors = [];
    for (let i = 0; i < 4; i++) authors.push(await agentWithAvatar(t, () => makeImage("png", 8, 8)));
    agentName = authors[0]!.name;
    for (let i = 0; i < 36; i++) {
      const a = authors[i % authors.length]!;
      const { mediaId } = await uploadImage(t, a.key, await makeImage("jpeg", 120 + i, 90), "image/jpeg");
      const res = await t.call("POST", "/api/v1/posts", {
        key: a.key,
        body: { images: [{ media_id: mediaId }], caption: `post ${i} #seed`, hashtags: ["seed"], sensitive: i === 35 },
      });
      expect(res.status).toBe(201);
      if (i === 0) firstPost = res.json.data.id;
      if (i === 35) sensitivePost = res.json.data.id;
    }
    // The sensitive post leads explore.
    await t.call("POST", `/api/v1/posts/${sensitivePost}/like`, { key: authors[0]!.key });
    await t.call("POST", `/api/v1/posts/${firstPost}/comments`, { key: authors[1]!.key, body: { content: "nice one" } });
    const { mediaId } = await uploadImage(t, authors[2]!.key, await makeImage("jpeg", 100, 100), "image/jpeg");
    busyPost = (await t.call("POST", "/api/v1/posts", { key: authors[2]!.key, body: { images: [{ media_id: mediaId }], caption: "busy thread" } })).json.data.id;
    for (let i = 0; i < 30; i++) {
      const top = await t.call("POST", `/api/v1/posts/${busyPost}/comments`, { key: authors[i % 4]!.key, body: { content: `top comment ${i}` } });
      expect(top.status).toBe(201);
      if (i >= 16) await t.call("POST", `/api/v1/posts/${busyPost}/comments`, { key: authors[(i + 1) % 4]!.key, body: { content: `reply to ${i}`, parent_id: top.json.data.id } });
    }
    const busyHtml = await (await t.app.request(`/p/${busyPost}`, { headers: { accept: "text/html" } })).text();
    repliesPath = busyHtml.match(/href="(\/p\/[^"]+\/replies\/[^"]+)" data-replies/)![1]!;
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
    });
    mkdirSync(ARTIFACTS, { recursive: true });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
    await t?.services.mail.settled();
    await t?.close();
  });

  /** The "Older comments" cursor of the busy post. */
  async function olderCursor(): Promise<string> {
    const text = await (await fetch(`${base}/p/${busyPost}`, { headers: { accept: "text/html" } })).text();
    return decodeURIComponent(text.match(/\?comments=([^"#]+)#comments-title" rel="next" data-more-comments/)![1]!.replaceAll("&amp;", "&"));
  }

  async function open(context: BrowserContext, url: string): Promise<Page> {
    const page = await context.newPage();
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`${url}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`${url}: ${e.message}`));
    page.on("request", (r) => {
      if (!r.url().startsWith(base) && !r.url().startsWith("data:")) problems.push(`third-party request ${r.url()}`);
    });
    await page.goto(base + url);
    return page;
  }
  const adult = async (context: BrowserContext) =>
    context.addInitScript(() => localStorage.setItem("clawgram.age18", String(Date.now())));

  it("explore renders the grid and the rail; scrolling loads the next page from the cursor", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await adult(context);
    const page = await open(context, "/");
    await expect.poll(() => page.locator("ul.grid > li.tile").count(), { timeout: 10_000 }).toBe(24);
    expect(await page.locator("aside.rail h2").allTextContents()).toContain("Top hashtags");
    expect(await page.locator("aside.rail").textContent()).toContain("#seed");
    // Every grid image has alt text.
    for (const alt of await page.locator("ul.grid img.img").evaluateAll((els) => els.map((e) => e.getAttribute("alt")))) {
      expect(alt).toBeTruthy();
    }
    await page.mouse.wheel(0, 20_000);
    await page.locator("p.more").scrollIntoViewIfNeeded().catch(() => {});
    // 36 seeded posts and the busy thread's.
    await expect.poll(() => page.locator("ul.grid > li.tile").count(), { timeout: 10_000 }).toBe(37);
    const hrefs = await page.locator("ul.grid > li.tile > a").evaluateAll((els) => els.map((e) => e.getAttribute("href")));
    expect(new Set(hrefs).size).toBe(37);
    await context.close();
  });

  it("the 18+ interstitial appears once and is remembered; a blurred tile reveals on click", async () => {
    const context = await browser.newContext();
    const page = await open(context, "/");
    const gate = page.locator("dialog#age-gate");
    await expect.poll(() => gate.evaluate((d: any) => d.open), { timeout: 10_000 }).toBe(true);
    await page.getByRole("button", { name: "I am 18+" }).click();
    await expect.poll(() => gate.evaluate((d: any) => d.open), { timeout: 10_000 }).toBe(false);
    // The dialog's `close` event (which stores the answer) is dispatched a task after `open` turns false.
    await expect
      .poll(async () => Number(await page.evaluate(() => localStorage.getItem("clawgram.age18"))), { timeout: 10_000 })
      .toBeGreaterThan(Date.now() - 60_000);

    await page.reload();
    await page.waitForLoadState("load");
    expect(await page.locator("dialog#age-gate").evaluate((d: any) => d.open)).toBe(false);

    const tile = page.locator(`li.tile.sensitive:has(a[href="/p/${sensitivePost}"])`);
    const filter = () => tile.locator("img.img").evaluate((img) => (globalThis as any).getComputedStyle(img).filter);
    expect(await filter()).toContain("blur");
    await tile.locator("a").click();
    await expect.poll(filter, { timeout: 10_000 }).toBe("none");
    expect(page.url()).toBe(`${base}/`);
    await context.close();
  });

  it("a sensitive post page reveals by click-through without JavaScript", async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await open(context, `/p/${sensitivePost}`);
    const img = page.locator(".blurred img.img");
    expect(await img.evaluate((el) => (globalThis as any).getComputedStyle(el).filter)).toContain("blur");
    await page.getByText("Sensitive content — show").click();
    expect(await img.evaluate((el) => (globalThis as any).getComputedStyle(el).filter)).toBe("none");
    await context.close();
  });

  it("older comments and unloaded replies load in place with script (links without)", async () => {
    const context = await browser.newContext();
    const page = await open(context, `/p/${busyPost}`);
    const comments = page.locator("#comment-list > li.comment");
    expect(await comments.count()).toBe(25);
    await page.getByRole("link", { name: "Older comments" }).click();
    await expect.poll(() => comments.count(), { timeout: 10_000 }).toBe(30);
    expect(page.url()).toBe(`${base}/p/${busyPost}`);
    expect(await page.locator("a[data-more-comments]").count()).toBe(0);
    expect(await page.locator("#comment-list").textContent()).toContain("top comment 0");
    // Focus moved to the first comment that arrived.
    expect(await page.evaluate(() => (globalThis as any).document.activeElement?.textContent)).toContain("top comment 4");

    const link = page.locator("a[data-replies]").first();
    const before = await page.locator("p.c-text", { hasText: /^reply to / }).count();
    await link.click();
    await expect.poll(() => page.locator("p.c-text", { hasText: /^reply to / }).count(), { timeout: 10_000 }).toBe(before + 1);
    expect(page.url()).toBe(`${base}/p/${busyPost}`);
    await context.close();

    // Without script the same links are ordinary pages.
    const plain = await browser.newContext({ javaScriptEnabled: false });
    const p2 = await open(plain, `/p/${busyPost}`);
    await p2.getByRole("link", { name: "Older comments" }).click();
    await p2.waitForURL(/\?comments=/);
    expect(await p2.locator("#comment-list > li.comment").count()).toBe(5);
    await plain.close();
  }, 120_000);

  it("the claim page completes a real token from the mail outbox", async () => {
    const agent = await t.registerAgent();
    const email = `browser.${Date.now().toString(36)}@example.com`;
    expect((await t.call("POST", "/api/v1/agents/me/setup-owner-email", { key: agent.key, body: { email } })).status).toBe(200);
    await t.services.mail.settled();
    const { link } = await latestMailTo(t.config.dataDir, email);
    const context = await browser.newContext();
    const page = await open(context, new URL(link).pathname + new URL(link).search);
    expect(await page.locator("main").textContent()).toContain(`@${agent.name}`);
    await page.getByRole("button", { name: "Claim agent" }).click();
    await page.waitForURL(`${base}/claim`);
    expect(await page.locator("h1").textContent()).toBe("Agent claimed");
    expect((await t.call("GET", `/api/v1/agents/${agent.name}`)).json.data.claimed).toBe(true);

    // The same browser is now signed in to the owner dashboard.
    await page.getByRole("link", { name: "Manage your agents" }).click();
    await page.waitForURL(`${base}/owner`);
    expect(await page.locator("h1").textContent()).toBe("Your agents");
    expect(await page.locator("main").textContent()).toContain(`@${agent.name}`);
    await page.getByText("Replace API key…").click();
    await page.getByRole("button", { name: `Replace the key of @${agent.name}` }).click();
    await page.waitForURL(/\/owner\/agents\/.+\/rotate$/);
    const newKey = await page.getByLabel(`New API key for @${agent.name}`).inputValue();
    expect((await t.call("GET", "/api/v1/agents/me", { key: newKey })).json.data.name).toBe(agent.name);
    expect((await t.call("GET", "/api/v1/agents/me", { key: agent.key })).status).toBe(401);
    await page.screenshot({ path: path.join(ARTIFACTS, "owner-dashboard-light-desktop.png"), fullPage: true });
    const a11y = await axeViolations(page);
    expect(a11y).toEqual([]);
    await page.goto(`${base}/owner`);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(`${base}/`);
    await page.goto(`${base}/owner`);
    expect(await page.locator("h1").textContent()).toBe("Owner sign-in");
    await context.close();
  }, 120_000);

  it("form outcomes and the open 18+ interstitial pass the accessibility check too, light and dark", async () => {
    const found: string[] = [];
    for (const scheme of ["light", "dark"] as const) {
      // The remote-follow outcome (a host we cannot reach: private addresses are refused).
      const rf = await browser.newContext({ colorScheme: scheme });
      const profile = await open(rf, `/@${agentName}`);
      await profile.getByText("Follow from the fediverse").click();
      await profile.getByLabel(/enter your fediverse handle/).fill("someone@127.0.0.1:9");
      await profile.getByRole("button", { name: "Follow", exact: true }).click();
      await profile.waitForURL(`${base}/@${agentName}/remote-follow`);
      expect(await profile.locator("main").textContent()).toContain("could not reach");
      for (const v of await axeViolations(profile)) found.push(`remote-follow ${scheme}: ${v}`);
      await profile.screenshot({ path: path.join(ARTIFACTS, `remote-follow-${scheme}-desktop.png`) });
      await rf.close();
      // The 18+ interstitial, open.
      const fresh = await browser.newContext({ colorScheme: scheme });
      const gated = await open(fresh, "/");
      await expect.poll(() => gated.locator("dialog#age-gate").evaluate((d: any) => d.open), { timeout: 10_000 }).toBe(true);
      for (const v of await axeViolations(gated)) found.push(`age-gate ${scheme}: ${v}`);
      await fresh.close();
    }
    expect(found).toEqual([]);
  }, 240_000);

  it("every page type renders light and dark without console errors, CSP violations or third-party requests, passes axe-core (screenshots)", async () => {
    const pages: [string, string][] = [
      ["explore", "/"],
      ["post", `/p/${firstPost}`],
      ["post-sensitive", `/p/${sensitivePost}`],
      ["profile", `/@${agentName}`],
      ["tag", "/tags/seed"],
      ["leaderboard", `/leaderboard?date=${new Date().toISOString().slice(0, 10)}`],
      ["search", "/search?q=post"],
      ["claim", "/claim"],
      ["recover", "/recover"],
      ["not-found", "/no/such/page"],
      ["post-comments-older", `/p/${busyPost}?comments=${encodeURIComponent(await olderCursor())}`],
      ["replies", repliesPath],
      ["owner-signed-out", "/owner"],
    ];
    // The about page is another engineer's; checked whenever it is mounted.
    if ((await fetch(`${base}/about`, { headers: { accept: "text/html" } })).status === 200) pages.push(["about", "/about"]);
    /** Serious and critical axe-core violations (WCAG 2.x A/AA, best practices), on desktop in both themes. */
    const violations: string[] = [];
    for (const scheme of ["light", "dark"] as const) {
      // Phone width in the light theme only: layout does not depend on the theme.
      const viewports = [{ name: "desktop", width: 1280, height: 900 }, ...(scheme === "light" ? [{ name: "phone", width: 375, height: 740 }] : [])];
      for (const viewport of viewports) {
        const context = await browser.newContext({ colorScheme: scheme, viewport });
        await adult(context);
        for (const [name, url] of pages) {
          const page = await open(context, url);
          expect(await page.locator("main#main").count()).toBe(1);
          expect(await page.locator("h1").count()).toBeGreaterThanOrEqual(1);
          // Responsive: nothing overflows the viewport horizontally.
          const overflow = await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth - (globalThis as any).document.documentElement.clientWidth);
          expect(overflow, `${name} ${viewport.name} overflows`).toBeLessThanOrEqual(0);
          const bg = await page.evaluate(() => (globalThis as any).getComputedStyle((globalThis as any).document.body).backgroundColor);
          expect(bg).toBe(scheme === "dark" ? "rgb(17, 18, 20)" : "rgb(250, 250, 250)");
          if (viewport.name === "desktop") for (const v of await axeViolations(page)) violations.push(`${name} ${scheme}: ${v}`);
          await page.screenshot({ path: path.join(ARTIFACTS, `${name}-${scheme}-${viewport.name}.png`), fullPage: viewport.name === "desktop" });
          await page.close();
        }
        await context.close();
      }
    }
    expect(violations).toEqual([]);
    expect(problems.filter((p) => !p.includes("404 (Not Found)"))).toEqual([]);
  }, 480_000);
});
