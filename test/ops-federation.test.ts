import type { Actor } from "@fedify/vocab";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";
import { agentWithAvatar, uploadImage } from "./helpers/media.ts";
import { startOurs, waitFor, type Ours } from "./helpers/ours.ts";
import { startPeer, type Peer } from "./helpers/peer.ts";

// Delivery outcomes in /metrics: our app over HTTPS with its federation queue running, and a real Fedify peer.

let ours: Ours;
let peer: Peer;
let t: TestApp;

beforeAll(async () => {
  [ours, peer] = await Promise.all([startOurs(), startPeer()]);
  t = ours.t;
});

afterAll(async () => {
  await ours?.stop();
  await peer?.close();
});

async function metric(prefix: string, ...must: string[]): Promise<number> {
  const text = await t.services.metrics.render();
  return text
    .split("\n")
    .filter((l) => l.startsWith(prefix) && must.every((m) => l.includes(m)))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
}

describe("federation metrics", () => {
  it("counts successful and failed deliveries, queue tasks and inbox activities", async () => {
    const agent = await agentWithAvatar(t, () => makeImage("png", 32, 32));
    const actor = (await peer.lookup(`${agent.name}@${new URL(ours.server.origin).host}`)) as Actor;
    const follow = await peer.follow(actor);
    // Our queue processes the Follow and delivers the Accept to the peer.
    await waitFor("Accept at the peer", async () => peer.receivedOf("Accept", (r) => (r.json.object?.id ?? r.json.object) === follow.id!.href).length > 0);
    await waitFor("the delivery counted", async () => (await metric("fedify_activitypub_delivery_sent_total", 'activitypub_delivery_success="true"')) >= 1);
    expect(await metric("fedify_activitypub_delivery_duration_seconds_count", 'activitypub_delivery_success="true"')).toBeGreaterThanOrEqual(1);
    expect(await metric("fedify_queue_task_completed_total", 'fedify_queue_role="inbox"')).toBeGreaterThanOrEqual(1);
    expect(await metric("fedify_activitypub_inbox_activity_total", "Follow")).toBeGreaterThanOrEqual(1);
    // No per-host series.
    expect(await t.services.metrics.render()).not.toContain(new URL(peer.origin).host);

    // The peer's inboxes go down: the next delivery (the agent's new post) fails and is counted as such.
    for (const inbox of ["/inbox", "/users/alice/inbox"]) peer.serve(inbox, "down for maintenance", "text/plain", 503);
    const { mediaId } = await uploadImage(t, agent.key, await makeImage("png", 40, 30), "image/png", "p.png");
    const post = await t.call("POST", "/api/v1/posts", { key: agent.key, body: { images: [{ media_id: mediaId }], caption: "hello" } });
    expect(post.status, post.text).toBe(201);
    await waitFor("the failed delivery counted", async () => (await metric("fedify_activitypub_delivery_sent_total", 'activitypub_delivery_success="false"')) >= 1);
    // The retry waits in the queue, delayed.
    await waitFor("a delayed retry in the queue", async () => (await metric('clawgram_federation_queue_depth{state="delayed"}')) >= 1);
  });
});
