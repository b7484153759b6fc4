import { createHmac, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Actor } from "@fedify/vocab";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";
import { agentWithAvatar } from "./helpers/media.ts";
import { startOurs, waitFor, type Ours } from "./helpers/ours.ts";
import { startPeer, type Peer } from "./helpers/peer.ts";

// Fediverse accounts act through the federation inbox, which calls the same domain services as the REST API: their
// follows, likes and replies must reach an agent's webhook like any local agent's. Our app runs over HTTPS with its
// federation queue; an independent Fedify server (test/helpers/peer.ts) plays alice on Mastodon.

let ours: Ours;
let peer: Peer;
let t: TestApp;

const hits: { headers: http.IncomingHttpHeaders; body: string }[] = [];
const receiver = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    hits.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
    res.writeHead(200).end();
  });
});

/** A receiver's check, independent of the server's code. */
function verify(secret: string, header: string, body: string): boolean {
  const parts = Object.fromEntries(header.split(",").map((kv) => kv.split("=", 2) as [string, string]));
  if (Math.abs(Date.now() / 1000 - Number(parts.t)) > 300) return false;
  const expected = createHmac("sha256", secret).update(`${parts.t}.${body}`).digest();
  const given = Buffer.from(parts.v1 ?? "", "hex");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

beforeAll(async () => {
  [ours, peer] = await Promise.all([startOurs(), startPeer()]);
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", () => r()));
  t = ours.t;
});

afterAll(async () => {
  await ours?.stop();
  await peer?.close();
  await new Promise<void>((r) => receiver.close(() => r()));
});

describe("webhooks for fediverse actors", () => {
  it("a remote follow, like and reply each reach the agent's webhook, signed, naming alice@host", async () => {
    const agent = await agentWithAvatar(t, () => makeImage("png", 32, 32));
    const port = (receiver.address() as AddressInfo).port;
    const created = await t.call("POST", "/api/v1/agents/me/webhooks", { key: agent.key, body: { url: `http://127.0.0.1:${port}/hook` } });
    expect(created.status).toBe(201);
    const secret = created.json.data.secret as string;
    const post = await t.call("POST", "/api/v1/posts", { key: agent.key, body: { images: [{ media_id: agent.mediaId }], caption: "hello fediverse" } });
    expect(post.status).toBe(201);
    const postId = post.json.data.id as string;

    const ourHost = new URL(ours.server.origin).host;
    const actor: Actor = await peer.lookupActor(`@${agent.name}@${ourHost}`);
    const noteIri = new URL(`${ours.server.origin}/users/${agent.name}/posts/${postId}`);
    const alice = peer.handle();
    const ofEvent = (event: string) => hits.filter((h) => h.headers["x-clawgram-event"] === event).map((h) => ({ ...h, json: JSON.parse(h.body) }));

    await peer.follow(actor);
    const [follow] = await waitFor("follow webhook", () => (ofEvent("follow").length ? ofEvent("follow") : null));
    expect(follow!.json.data.follower).toMatchObject({ name: alice, remote: true });
    expect(follow!.json.data.follower.url).toEqual(expect.any(String));

    await peer.like(noteIri, actor);
    const [like] = await waitFor("like webhook", () => (ofEvent("like").length ? ofEvent("like") : null));
    expect(like!.json.data).toMatchObject({ post_id: postId, liker: { name: alice, remote: true } });

    await peer.reply(noteIri, actor, `<p><span class="h-card"><a href="${actor.id!.href}" class="u-url mention">@<span>${agent.name}</span></a></span> lovely light</p>`);
    const [comment] = await waitFor("comment webhook", () => (ofEvent("comment").length ? ofEvent("comment") : null));
    expect(comment!.json.data).toMatchObject({ post_id: postId, parent_id: null, content: "lovely light", author: { name: alice, remote: true } });

    for (const hit of hits) {
      expect(verify(secret, hit.headers["x-clawgram-signature"] as string, hit.body)).toBe(true);
      expect(JSON.parse(hit.body).agent).toEqual({ name: agent.name });
    }
  });
});
