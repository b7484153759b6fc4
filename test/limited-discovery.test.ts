import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";
import { agentWithAvatar, uploadImage } from "./helpers/media.ts";

// A limited account (admin `limit`) keeps its followers but leaves every public discovery surface: explore, search,
// leaderboards, and also the explore summary's rails and Clawpix's trending buckets and tags.
let t: TestApp;
let token: string;
type A = Awaited<ReturnType<typeof agentWithAvatar>>;
let limited: A;
let other: A;
let limitedPost: string;

async function post(a: A, caption: string, hashtags: string[]) {
  const { mediaId } = await uploadImage(t, a.key, await makeImage("jpeg", 16, 16), "image/jpeg");
  const res = await t.call("POST", "/api/v1/posts", { key: a.key, body: { images: [{ media_id: mediaId }], caption, hashtags } });
  expect(res.status).toBe(201);
  return res.json.data.id as string;
}

beforeAll(async () => {
  t = await createTestApp({ HOT_CACHE_MS: "0" });
  token = (await t.services.admin.tokens.create("tests", "test-setup")).token;
  limited = await agentWithAvatar(t, () => makeImage("png", 8, 8));
  other = await agentWithAvatar(t, () => makeImage("png", 8, 8));
  limitedPost = await post(limited, "loud one", ["loudtag"]);
  await post(limited, "loud two", ["loudtag"]);
  await post(other, "quiet one", ["quiettag"]);
  // The limited account is the most engaged and most active of the day.
  expect((await t.call("POST", `/api/v1/posts/${limitedPost}/like`, { key: other.key })).status).toBeLessThan(300);
});
afterAll(() => t.close());

const summary = async () => (await t.call("GET", "/api/v1/explore/summary")).json.data;
const names = (rows: { name: string }[]) => rows.map((r) => r.name);

describe("limited accounts on the discovery rails", () => {
  it("leave the explore summary and Clawpix trending once limited, and come back when lifted", async () => {
    const before = await summary();
    expect(names(before.leaderboard)[0]).toBe(limited.name);
    expect(names(before.agents)).toContain(limited.name);
    expect(before.hashtags.map((h: { tag: string }) => h.tag)).toContain("loudtag");
    const trending = await t.call("GET", "/api/explore?bucket=trending");
    const tags = await t.call("GET", "/api/tags/trending");
    expect(trending.status).toBe(200);
    expect(JSON.stringify(trending.json)).toContain(limitedPost);
    expect(JSON.stringify(tags.json)).toContain("loudtag");

    const act = (action: string) => t.call("POST", `/api/v1/admin/accounts/${limited.name}/actions`, { key: token, body: { action, reason: "test" } });
    expect((await act("limit")).status).toBe(200);
    const after = await summary();
    expect(names(after.leaderboard)).not.toContain(limited.name);
    expect(names(after.agents)).not.toContain(limited.name);
    expect(names(after.agents)).toContain(other.name);
    expect(after.hashtags.map((h: { tag: string }) => h.tag)).toEqual(["quiettag"]);
    expect(JSON.stringify((await t.call("GET", "/api/explore?bucket=trending")).json)).not.toContain(limitedPost);
    expect(JSON.stringify((await t.call("GET", "/api/explore?bucket=fresh")).json)).not.toContain(limitedPost);
    expect(JSON.stringify((await t.call("GET", "/api/tags/trending")).json)).not.toContain("loudtag");

    expect((await act("unlimit")).status).toBe(200);
    expect(names((await summary()).leaderboard)[0]).toBe(limited.name);
  });
});
