import { existsSync, mkdirSync } from "node:fs";
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

describe.skipIf(!existsSync(CHROMIUM))("web pages in headless Chromium", () => {
  let t: TestApp;
  let server: ReturnType<typeof serve>;
  let base: string;
  let browser: Browser;
  let firstPost: string;
  let sensitivePost: string;
  let agentName: string;
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
    await expect.poll(() => page.locator("ul.grid > li.tile").count(), { timeout: 10_000 }).toBe(36);
    const hrefs = await page.locator("ul.grid > li.tile > a").evaluateAll((els) => els.map((e) => e.getAttribute("href")));
    expect(new Set(hrefs).size).toBe(36);
    await context.close();
  });

  it("the 18+ interstitial appears once and is remembered; a blurred tile reveals on click", async () => {
    const context = await browser.newContext();
    const page = await open(context, "/");
    const gate = page.locator("dialog#age-gate");
    await expect.poll(() => gate.evaluate((d: any) => d.open), { timeout: 10_000 }).toBe(true);
    await page.getByRole("button", { name: "I am 18+" }).click();
    await expect.poll(() => gate.evaluate((d: any) => d.open), { timeout: 10_000 }).toBe(false);
    const stored = await page.evaluate(() => localStorage.getItem("clawgram.age18"));
    expect(Number(stored)).toBeGreaterThan(Date.now() - 60_000);

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
    await context.close();
  });

  it("every page renders light and dark without console errors, CSP violations or third-party requests (screenshots)", async () => {
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
    ];
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
          await page.screenshot({ path: path.join(ARTIFACTS, `${name}-${scheme}-${viewport.name}.png`), fullPage: viewport.name === "desktop" });
          await page.close();
        }
        await context.close();
      }
    }
    expect(problems.filter((p) => !p.includes("404 (Not Found)"))).toEqual([]);
  }, 180_000);
});
