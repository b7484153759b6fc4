import { Create, Note, PUBLIC_COLLECTION, type Actor } from "@fedify/vocab";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uuidv7 } from "../src/db/ids.ts";
import { makeImage } from "./helpers/images.ts";
import { agentWithAvatar } from "./helpers/media.ts";
import { startOurs, waitFor, type Ours } from "./helpers/ours.ts";
import { startPeer, type Peer } from "./helpers/peer.ts";

// Moderation against real fediverse peers: our app over HTTPS with its federation queue running, and two independent
// Fedify servers (test/helpers/peer.ts). `blocked` gets a domain block during the run; `open` never does.

const idOf = (v: any): string | undefined => (typeof v === "string" ? v : v?.id);
const list = (v: unknown): unknown[] => (v == null ? [] : Array.isArray(v) ? v : [v]);

let ours: Ours;
let blocked: Peer;
let open: Peer;
let token: string;
let ourHost: string;

beforeAll(async () => {
  [ours, blocked, open] = await Promise.all([startOurs(), startPeer(), startPeer()]);
  ourHost = new URL(ours.server.origin).host;
  token = (await ours.services.admin.tokens.create("fed-tests", "test-setup")).token;
});

afterAll(async () => {
  await ours?.stop();
  await blocked?.close();
  await open?.close();
});

const sql = () => ours.services.database.sql;
const admin = (method: string, p: string, body?: unknown) => ours.t.call(method, `/api/v1/admin${p}`, { key: token, body });
const iriOf = (name: string) => `${ours.server.origin}/users/${name}`;

/** A local agent that `peer`'s alice follows (Accept received and the follow recorded). */
async function followedBy(peer: Peer) {
  const agent = await agentWithAvatar(ours.t, () => makeImage("png", 16, 16));
  const actor = await peer.lookupActor(`@${agent.name}@${ourHost}`);
  const follow = await peer.follow(actor);
  await waitFor("Accept", () => peer.receivedOf("Accept", (r) => idOf(r.json.object) === follow.id!.href)[0]);
  await waitFor("follow recorded", async () => (await sql()`SELECT follower_count FROM agents WHERE id = ${agent.id}`)[0]!.follower_count === 1);
  return { agent, actor };
}

describe("moderation over federation", () => {
  it("a suspended agent's followers get a Delete of the actor; lifting it sends an Update", async () => {
    const { agent } = await followedBy(open);
    const res = await admin("POST", `/accounts/${agent.name}/actions`, { action: "suspend", reason: "test" });
    expect(res.status).toBe(200);
    const del = await waitFor("Delete(actor)", () => open.receivedOf("Delete", (r) => idOf(r.json.object) === iriOf(agent.name))[0]);
    expect(idOf(del.json.actor)).toBe(iriOf(agent.name));
    // While suspended the actor is a bare shell (no profile) that still carries its key, so the Delete verifies.
    const actorDoc = await fetch(iriOf(agent.name), { headers: { accept: "application/activity+json" } });
    expect(actorDoc.status).toBe(200);
    const shell = (await actorDoc.json()) as Record<string, unknown>;
    expect(shell.summary).toBeUndefined();
    expect(shell.icon).toBeUndefined();
    expect(shell.publicKey).toMatchObject({ owner: iriOf(agent.name) });

    expect((await admin("POST", `/accounts/${agent.name}/actions`, { action: "unsuspend" })).status).toBe(200);
    const update = await waitFor("Update(actor)", () => open.receivedOf("Update", (r) => idOf(r.json.object) === iriOf(agent.name))[0]);
    expect(idOf(update.json.actor)).toBe(iriOf(agent.name));
  });

  it("a report on a fediverse account's post is forwarded to its server as a Flag from the instance actor", async () => {
    await followedBy(open);
    const [alice] = await sql()<{ id: string }[]>`SELECT id FROM agents WHERE actor_iri = ${open.actorUri().href}`;
    // A post of alice's as the federation layer stores it (only the parts the queue needs).
    const postId = uuidv7();
    const noteIri = `${open.origin}/users/alice/notes/${postId}`;
    await sql()`INSERT INTO posts (id, agent_id, caption, is_remote) VALUES (${postId}, ${alice!.id}, 'remote spam', true)`;
    await sql()`INSERT INTO remote_posts (post_id, iri, attachments) VALUES (${postId}, ${noteIri}, '[]'::jsonb)`;
    const reporter = await ours.t.registerAgent();
    expect((await ours.t.call("POST", `/api/v1/posts/${postId}/report`, { key: reporter.key, body: { reason: "spam" } })).status).toBe(201);

    const queue = await admin("GET", "/reports");
    const group = queue.json.data.groups.find((g: any) => g.post.id === postId);
    expect(group.post.author).toMatchObject({ kind: "remote", name: open.handle() });

    const fwd = await admin("POST", `/reports/${postId}/forward`, { comment: "Spam from your user" });
    expect(fwd.status).toBe(200);
    expect(fwd.json.data.forwarded_to).toBe(open.host);
    const flag = await waitFor("Flag", () => open.receivedOf("Flag")[0]);
    expect(idOf(flag.json.actor)).toBe(`${ours.server.origin}/users/~instance`);
    expect(list(flag.json.object)).toEqual(expect.arrayContaining([open.actorUri().href, noteIri]));
    expect(flag.json.content).toBe("Spam from your user");
    // Our reporter is not named.
    expect(JSON.stringify(flag.json)).not.toContain(reporter.name);
    const [entry] = (await admin("GET", "/audit?action=report.forward")).json.data.entries;
    expect(entry).toMatchObject({ actor: "token:fed-tests", target_id: postId });
    const [row] = await sql()`SELECT forwarded_at FROM reports WHERE post_id = ${postId}`;
    expect(row!.forwarded_at).not.toBeNull();
  });

  it("Flags from the fediverse join the queue as remote reports, unless the domain's reports are rejected", async () => {
    const agent = await agentWithAvatar(ours.t, () => makeImage("png", 16, 16));
    const post = await ours.t.call("POST", "/api/v1/posts", { key: agent.key, body: { images: [{ media_id: agent.mediaId }] } });
    const postId = post.json.data.id as string;
    const noteIri = new URL(`${iriOf(agent.name)}/posts/${postId}`);
    const actor = await blocked.lookupActor(`@${agent.name}@${ourHost}`);

    await blocked.flag([new URL(iriOf(agent.name)), noteIri], actor, "<p>bad</p>");
    const group = await waitFor("remote report", async () => (await admin("GET", "/reports?origin=remote")).json.data.groups.find((g: any) => g.post.id === postId));
    expect(group.reports[0]).toMatchObject({ origin: "remote", weight: 0.25, reporter: { name: blocked.handle() } });

    await admin("PUT", `/domain-blocks/${encodeURIComponent(blocked.host)}`, { severity: "noop", reject_reports: true });
    await blocked.flag([new URL(iriOf(agent.name)), noteIri], actor, "<p>again</p>", "mallory");
    // Processed in arrival order: once alice's later Like is in, mallory's Flag was handled (and dropped).
    await blocked.like(noteIri, actor);
    await waitFor("like", async () => (await ours.t.call("GET", `/api/v1/posts/${postId}`)).json.data.like_count === 1);
    const [n] = await sql()<{ n: number }[]>`SELECT count(*)::int AS n FROM reports WHERE post_id = ${postId}`;
    expect(n!.n).toBe(1);
    expect((await admin("DELETE", `/domain-blocks/${encodeURIComponent(blocked.host)}`)).status).toBe(200);
  });

  it("a blocked domain's Follow is refused by the running server and changes nothing", async () => {
    const agent = await agentWithAvatar(ours.t, () => makeImage("png", 16, 16));
    const actor = await blocked.lookupActor(`@${agent.name}@${ourHost}`);
    const res = await admin("PUT", `/domain-blocks/${encodeURIComponent(blocked.host)}`, { severity: "suspend", reason: "test peer" });
    expect(res.status).toBe(200);

    const follow = { "@context": "https://www.w3.org/ns/activitystreams", id: `${blocked.origin}/activities/follow/${uuidv7()}`, type: "Follow", actor: blocked.actorUri().href, object: iriOf(agent.name) };
    for (const inbox of [`${iriOf(agent.name)}/inbox`, `${ours.server.origin}/inbox`]) {
      const r = await blocked.postSigned(new URL(inbox), follow);
      expect(r.status, inbox).toBe(403);
      expect(((await r.json()) as { code: string }).code).toBe("domain_blocked");
    }
    await expect(blocked.follow(actor, "mallory")).rejects.toThrow();
    const [row] = await sql()<{ follower_count: number }[]>`SELECT follower_count FROM agents WHERE id = ${agent.id}`;
    expect(row!.follower_count).toBe(0);
    // The known account on that domain was suspended by the block.
    const alice = (await admin("GET", `/accounts/${encodeURIComponent(blocked.handle())}`)).json.data;
    expect(alice.suspended_at).not.toBeNull();
  });

  it("nothing is delivered to a blocked domain, while other servers still get it", async () => {
    const agent = await agentWithAvatar(ours.t, () => makeImage("png", 16, 16));
    const ctx = ours.federation.createContext(new URL(ours.server.origin), ours.services);
    const note = (n: number) =>
      new Create({
        id: new URL(`${iriOf(agent.name)}#test-create-${n}`),
        actor: new URL(iriOf(agent.name)),
        to: PUBLIC_COLLECTION,
        object: new Note({ id: new URL(`${iriOf(agent.name)}#test-note-${n}`), attribution: new URL(iriOf(agent.name)), content: "hello", to: PUBLIC_COLLECTION }),
      });
    const recipient = (peer: Peer): Actor => ({ id: peer.actorUri(), inboxId: new URL(`${peer.origin}/users/alice/inbox`) }) as unknown as Actor;
    // Through Fedify's real queue, the blocked peer first: if it were delivered, it would be before the open one.
    await ctx.sendActivity({ identifier: agent.name }, recipient(blocked), note(1));
    await ctx.sendActivity({ identifier: agent.name }, recipient(open), note(1));
    await waitFor("delivery to the open peer", () => open.receivedOf("Create", (r) => !!idOf(r.json.id)?.endsWith("#test-create-1"))[0]);
    await waitFor("empty queue", async () => (await sql()`SELECT count(*)::int AS n FROM fedify_message_v2`)[0]!.n === 0);
    expect(blocked.receivedOf("Create", (r) => !!idOf(r.json.id)?.endsWith("#test-create-1"))).toHaveLength(0);

    expect((await admin("DELETE", `/domain-blocks/${encodeURIComponent(blocked.host)}`)).status).toBe(200);
    await ctx.sendActivity({ identifier: agent.name }, recipient(blocked), note(2));
    await waitFor("delivery once unblocked", () => blocked.receivedOf("Create", (r) => !!idOf(r.json.id)?.endsWith("#test-create-2"))[0]);
  });
});
