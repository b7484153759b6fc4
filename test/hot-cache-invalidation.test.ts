import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createEventBus } from "../src/domain/events.ts";
import { createHotCache, idsIn, type Invalidation } from "../src/domain/discovery/hot-cache.ts";

// The cache's own bookkeeping (which writes drop which entries, and when a background reload may replace an entry),
// with the clock under the test's control. The HTTP behaviour is in hot-cache.test.ts.
const P1 = "0190f0f0-0000-7000-8000-000000000001";
const P2 = "0190f0f0-0000-7000-8000-000000000002";
const A1 = "0190f0f0-0000-7000-8000-0000000000a1";
const TTL = 1000;

// The cache reads the time with Date.now() only; fake timers would also replace the Temporal polyfill's clock.
const t0 = 1_800_000_000_000;
let now = t0;
beforeEach(() => {
  now = t0;
  vi.spyOn(Date, "now").mockImplementation(() => now);
});
afterEach(() => vi.restoreAllMocks());

function setup() {
  const events = createEventBus((e) => {
    throw e;
  });
  const cache = createHotCache(events, TTL);
  let loads = 0;
  /** A loader whose value names `refs`, counting calls; `version` tells one load's value from the next. */
  const loader = (refs: string[]) => async () => ({ refs, version: ++loads });
  const get = (key: string, refs: string[]) => cache.get(key, loader(refs), (v) => v.refs);
  return { events, cache, get, loads: () => loads };
}
const tick = () => new Promise((r) => setImmediate(r));

describe("hot cache invalidation", () => {
  it("drops on a like only the entries that show the liked post", async () => {
    const { events, get, loads } = setup();
    await get("a", [P1]);
    await get("b", [P2]);
    await get("c", [A1]);
    expect(loads()).toBe(3);
    events.emit("like.created", { postId: P1, agentId: A1 });
    await get("a", [P1]);
    await get("b", [P2]);
    await get("c", [A1]);
    expect(loads()).toBe(4); // only "a" loaded again: the liker's id is not what a like changes
    events.emit("comment.deleted", { commentId: P2, postId: P2, agentId: A1 });
    await get("b", [P2]);
    expect(loads()).toBe(5);
    // So do a hidden comment and a fediverse author's edit or deletion: only where the post shows.
    events.emit("comment.hidden", { commentId: A1, postId: P1, hidden: true });
    await get("a", [P1]);
    await get("b", [P2]);
    expect(loads()).toBe(6);
    events.emit("remote.posts.changed", { postIds: [P2], removed: true });
    await get("a", [P1]);
    await get("b", [P2]);
    expect(loads()).toBe(7);
  });

  it("drops on a follow the entries showing either agent", async () => {
    const { events, get, loads } = setup();
    await get("follower", [A1]);
    await get("other", [P1]);
    events.emit("follow.created", { followerId: A1, followingId: P2 });
    await get("follower", [A1]);
    await get("other", [P1]);
    expect(loads()).toBe(3);
  });

  it("clears everything on a new post, and entries that name nothing on any write", async () => {
    const { events, cache, get, loads } = setup();
    await get("a", [P1]);
    let untracked = 0;
    await cache.get("web", async () => ++untracked);
    events.emit("like.created", { postId: P2, agentId: A1 });
    await cache.get("web", async () => ++untracked);
    expect(untracked).toBe(2);
    await get("a", [P1]);
    expect(loads()).toBe(1);
    events.emit("post.created", { postId: P2, agentId: A1 });
    await get("a", [P1]);
    expect(loads()).toBe(2);
  });

  it("does not keep a load that was in flight when a write arrived", async () => {
    const { events, cache, get, loads } = setup();
    let release!: () => void;
    const slow = cache.get("a", () => new Promise<{ refs: string[]; version: number }>((r) => (release = () => r({ refs: [P2], version: 0 }))), (v) => v.refs);
    // The write may touch anything the unfinished page will show: it goes.
    events.emit("like.created", { postId: P1, agentId: A1 });
    release();
    expect((await slow).version).toBe(0);
    expect((await get("a", [P2])).version).toBe(1);
    expect(loads()).toBe(1);
  });

  it("replaces an entry late in its life in the background, unless a write touched what the reload read", async () => {
    const { events, get } = setup();
    expect((await get("a", [P1])).version).toBe(1);
    now = t0 + TTL * 0.8;
    // The old value is served while the reload runs; an unrelated like meanwhile does not spoil it.
    expect((await get("a", [P1])).version).toBe(1);
    events.emit("like.created", { postId: P2, agentId: A1 });
    await tick();
    expect((await get("a", [P1])).version).toBe(2);

    now = t0 + TTL * 1.6;
    const key = "b";
    expect((await get(key, [P1])).version).toBe(3);
    now = t0 + TTL * 2.45;
    // The reload starts (value 4), then a like on the post it shows arrives before it lands: dropped, and the entry
    // it would have replaced is gone too, so the next read loads afresh.
    const during = get(key, [P1]);
    events.emit("like.created", { postId: P1, agentId: A1 });
    expect((await during).version).toBe(3);
    await tick();
    expect((await get(key, [P1])).version).toBe(5);
  });

  it("tells listeners of its own invalidations only, and applies the ones from other processes", async () => {
    const { events, cache, get, loads } = setup();
    const heard: Invalidation[] = [];
    cache.onInvalidate((w) => heard.push(w));
    events.emit("like.created", { postId: P1, agentId: A1 });
    events.emit("agent.updated", { agentId: A1 });
    cache.clear();
    await get("a", [P1]);
    cache.applyRemote([P1]);
    await get("a", [P1]);
    expect(loads()).toBe(2);
    expect(heard).toEqual([[P1], "all", "all"]);
  });

  it("finds the ids a serialized page shows", () => {
    expect(idsIn(JSON.stringify({ items: [{ id: P1, author: { id: A1 } }], next_cursor: "eyJpZCI6IjAxOTAifQ" }))).toEqual([P1, A1]);
  });
});
