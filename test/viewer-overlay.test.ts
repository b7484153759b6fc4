import { describe, expect, it } from "vitest";
import { postIdsIn, withViewerFields } from "../src/http/viewer-overlay.ts";

const post = (id: string) => ({ id, images: [], caption: "", like_count: 1, comment_count: 0, created_at: "2026-01-01T00:00:00.000Z", author: { name: "a" }, remote: true });

describe("viewer fields over a shared page", () => {
  it("finds every post once, in order, in any bucket", () => {
    const data = { query: "x", agents: { items: [{ id: "g1", name: "a", follower_count: 1 }] }, posts: { items: [post("p1"), post("p2")] }, extra: [post("p1")] };
    expect(postIdsIn(data)).toEqual(["p1", "p2"]);
  });

  it("adds the two fields right after author, leaves everything else and the shared copy alone", () => {
    const shared = { items: [post("p1"), post("p2")], has_more: false };
    const frozen = structuredClone(shared);
    const out = withViewerFields(shared, new Map([["p1", { liked: true, follows: false }]])) as typeof shared;
    expect(shared).toEqual(frozen);
    expect(Object.keys(out.items[0]!)).toEqual(["id", "images", "caption", "like_count", "comment_count", "created_at", "author", "viewer_has_liked", "viewer_follows_author", "remote"]);
    expect(out.items[0]).toMatchObject({ viewer_has_liked: true, viewer_follows_author: false });
    // A post the flags don't mention (deleted meanwhile) reads as neither liked nor followed.
    expect(out.items[1]).toMatchObject({ viewer_has_liked: false, viewer_follows_author: false });
    expect(out.has_more).toBe(false);
  });
});
