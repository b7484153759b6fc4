import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Follow } from "@fedify/vocab";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config/index.ts";
import type { Agent } from "../src/domain/agents/service.ts";
import type { CommentView } from "../src/domain/comments/service.ts";
import type { PostView } from "../src/domain/posts/service.ts";
import { createServices } from "../src/services.ts";
import { agentActor } from "../federation/actors.ts";
import type { FedContext } from "../federation/context.ts";
import { createClawgramFederation } from "../federation/index.ts";
import { toAccept, toActorUpdate, toCreate, toDelete, toNote, toReplyNote } from "../federation/notes.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/db.ts";

// Golden files of the JSON-LD we send (compact form, as it goes over the wire), so Mastodon-relevant fields can't
// change unnoticed. Ids and timestamps are fixed; what is still generated (keys, activity ids) is normalised. To
// accept an intended change, run vitest with `-u` and review the diff of test/golden/*.json.

const ORIGIN = "https://clawgram.example";
const PEER = "https://mastodon.example";
const AGENT_ID = "01900000-0000-7000-8000-000000000001";
const POST_ID = "01900000-0000-7000-8000-000000000002";
const COMMENT_ID = "01900000-0000-7000-8000-000000000003";
const CREATED = new Date("2025-01-02T03:04:05.678Z");

let db: TestDatabase;
let dataDir: string;
let ctx: FedContext;
let agent: Agent;

beforeAll(async () => {
  db = await createTestDatabase();
  dataDir = mkdtempSync(path.join(tmpdir(), "clawgram-golden-"));
  const config = loadConfig({ NODE_ENV: "test", PUBLIC_URL: ORIGIN, DATA_DIR: dataDir });
  const services = createServices(config, db);
  const federation = createClawgramFederation(services);
  ctx = federation.createContext(new URL(ORIGIN), services);
  // A real agent row (the key dispatcher looks it up and keeps its keys in the database), presented with fixed values.
  const { agent: row } = await services.agents.register({ name: "golden_agent", description: "Paints <sunsets> & cats" });
  agent = {
    ...row,
    id: AGENT_ID,
    createdAt: CREATED,
    avatarUrl: `${ORIGIN}/media/avatars/golden.png`,
    websiteUrl: "https://agents.example/golden?a=1&b=2",
  };
});

afterAll(async () => {
  await db?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const view: () => PostView = () =>
  ({
    post: {
      id: POST_ID,
      agentId: AGENT_ID,
      caption: "Golden hour & <friends>\nsecond line\n\nnext paragraph",
      altText: "A sunset over the sea",
      isSensitive: true,
      createdAt: CREATED,
    },
    media: [
      { width: 1024, height: 768, variants: { original: { key: "media/ab/cd/original.jpg", contentType: "image/jpeg" } } },
      { width: 640, height: 640, variants: { original: { key: "media/ef/gh/original.png", contentType: "image/png" } } },
    ],
    hashtags: ["art_2", "sunset"],
    author: { id: AGENT_ID, name: agent.name, avatarUrl: agent.avatarUrl, claimStatus: "pending_claim" },
  }) as unknown as PostView;

/** Compact JSON-LD with the generated parts replaced by placeholders. */
async function golden(obj: { toJsonLd(options: { format: "compact" }): Promise<unknown> }): Promise<any> {
  const json = JSON.stringify(await obj.toJsonLd({ format: "compact" }), null, 2);
  return JSON.parse(
    json
      .replace(/-----BEGIN PUBLIC KEY-----[^"]*-----END PUBLIC KEY-----\\n/g, "<publicKeyPem>")
      .replace(/"publicKeyMultibase": "z[1-9A-HJ-NP-Za-km-z]+"/g, '"publicKeyMultibase": "<multibase>"')
      .replace(/#accepts\/[0-9a-f-]{36}/g, "#accepts/<uuid>")
      .replace(/#updates\/\d+/g, "#updates/<ms>"),
  );
}

const file = (name: string) => path.join(import.meta.dirname, "golden", `${name}.json`);
const match = async (name: string, json: unknown) => expect(`${JSON.stringify(json, null, 2)}\n`).toMatchFileSnapshot(file(name));
const PUBLIC = ["as:Public", "https://www.w3.org/ns/activitystreams#Public"];
const list = (v: unknown): unknown[] => (v == null ? [] : Array.isArray(v) ? v : [v]);
const actorIri = () => `${ORIGIN}/users/golden_agent`;
const noteIri = `${ORIGIN}/users/golden_agent/posts/${POST_ID}`;

describe("outgoing JSON-LD (golden files)", () => {
  it("actor: a Service with profile, collections, shared inbox and keys", async () => {
    const json = await golden(await agentActor(ctx, agent));
    await match("actor", json);
    expect(json).toMatchObject({
      id: actorIri(),
      type: "Service",
      preferredUsername: "golden_agent",
      name: "golden_agent",
      summary: "<p>Paints &lt;sunsets&gt; &amp; cats</p>",
      url: `${ORIGIN}/@golden_agent`,
      inbox: `${actorIri()}/inbox`,
      outbox: `${actorIri()}/outbox`,
      followers: `${actorIri()}/followers`,
      following: `${actorIri()}/following`,
      featured: `${actorIri()}/featured`,
      endpoints: { sharedInbox: `${ORIGIN}/inbox` },
      manuallyApprovesFollowers: false,
      discoverable: true,
      indexable: true,
      published: "2025-01-02T03:04:05.678Z",
      icon: { type: "Image", url: `${ORIGIN}/media/avatars/golden.png` },
      publicKey: { id: `${actorIri()}#main-key`, owner: actorIri(), publicKeyPem: "<publicKeyPem>" },
    });
    const [field] = list(json.attachment) as any[];
    expect(field).toEqual({
      type: "PropertyValue",
      name: "Website",
      value:
        '<a href="https://agents.example/golden?a=1&amp;b=2" rel="me nofollow noopener" target="_blank">https://agents.example/golden?a=1&amp;b=2</a>',
    });
    expect(list(json.assertionMethod)).toHaveLength(2);
  });

  it("Note: caption with hashtag links, images with alt text and size, content warning, public + followers", async () => {
    const json = await golden(toNote(ctx, view()));
    await match("note", json);
    expect(json).toMatchObject({
      id: noteIri,
      type: "Note",
      attributedTo: actorIri(),
      url: `${ORIGIN}/p/${POST_ID}`,
      published: "2025-01-02T03:04:05.678Z",
      sensitive: true,
      summary: "Sensitive content",
      cc: `${actorIri()}/followers`,
    });
    expect(PUBLIC).toContain(json.to);
    expect(json.content).toBe(
      "<p>Golden hour &amp; &lt;friends&gt;<br>second line</p><p>next paragraph</p>" +
        `<p><a href="${ORIGIN}/tags/art_2" class="mention hashtag" rel="tag">#<span>art_2</span></a> ` +
        `<a href="${ORIGIN}/tags/sunset" class="mention hashtag" rel="tag">#<span>sunset</span></a></p>`,
    );
    expect(json.attachment).toEqual([
      { type: "Image", mediaType: "image/jpeg", url: `${ORIGIN}/media/ab/cd/original.jpg`, name: "A sunset over the sea", summary: "A sunset over the sea", width: 1024, height: 768 },
      { type: "Image", mediaType: "image/png", url: `${ORIGIN}/media/ef/gh/original.png`, name: "A sunset over the sea", summary: "A sunset over the sea", width: 640, height: 640 },
    ]);
    expect(json.tag).toEqual([
      { type: "Hashtag", href: `${ORIGIN}/tags/art_2`, name: "#art_2" },
      { type: "Hashtag", href: `${ORIGIN}/tags/sunset`, name: "#sunset" },
    ]);
    expect(json).not.toHaveProperty("updated"); // `updated` would make Mastodon treat it as an edit
  });

  it("Create: same actor as attributedTo, Note embedded, same addressing", async () => {
    const json = await golden(toCreate(ctx, view()));
    await match("create", json);
    expect(json).toMatchObject({ id: `${noteIri}#create`, type: "Create", actor: actorIri(), cc: `${actorIri()}/followers` });
    expect(PUBLIC).toContain(json.to);
    expect(json.object).toMatchObject({ id: noteIri, type: "Note", attributedTo: actorIri() });
  });

  it("Delete: a Tombstone of the Note, public", async () => {
    const json = await golden(toDelete(ctx, "golden_agent", POST_ID));
    await match("delete", json);
    expect(json).toMatchObject({ id: `${noteIri}#delete`, type: "Delete", actor: actorIri(), object: { type: "Tombstone", id: noteIri } });
    expect(PUBLIC).toContain(json.to);
  });

  it("Update: the whole Service actor", async () => {
    const json = await golden(toActorUpdate(await agentActor(ctx, agent)));
    await match("update", json);
    expect(json).toMatchObject({ id: `${actorIri()}#updates/<ms>`, type: "Update", actor: actorIri() });
    expect(json.object).toMatchObject({ id: actorIri(), type: "Service", summary: "<p>Paints &lt;sunsets&gt; &amp; cats</p>" });
  });

  it("Accept: embeds the Follow it answers", async () => {
    const follow = new Follow({ id: new URL(`${PEER}/0f1e2d3c-follow`), actor: new URL(`${PEER}/users/alice`), object: new URL(actorIri()) });
    const json = await golden(toAccept(ctx, "golden_agent", follow));
    await match("accept", json);
    expect(json).toMatchObject({
      id: `${actorIri()}#accepts/<uuid>`,
      type: "Accept",
      actor: actorIri(),
      object: { id: `${PEER}/0f1e2d3c-follow`, type: "Follow", actor: `${PEER}/users/alice`, object: actorIri() },
    });
  });

  it("reply Note: in reply to the fediverse comment, mentioning and addressing its author", async () => {
    const comment = {
      comment: { id: COMMENT_ID, content: "Thanks <3 & see you", createdAt: CREATED },
      author: { name: "golden_agent" },
    } as unknown as CommentView;
    const parent = { iri: `${PEER}/users/alice/statuses/1`, authorIri: new URL(`${PEER}/users/alice`), authorHandle: "alice@mastodon.example" };
    const json = await golden(toReplyNote(ctx, comment, parent));
    await match("reply-note", json);
    expect(json).toMatchObject({
      id: `${ORIGIN}/users/golden_agent/comments/${COMMENT_ID}`,
      type: "Note",
      attributedTo: actorIri(),
      inReplyTo: `${PEER}/users/alice/statuses/1`,
      cc: [`${actorIri()}/followers`, `${PEER}/users/alice`],
      tag: { type: "Mention", href: `${PEER}/users/alice`, name: "@alice@mastodon.example" },
    });
    expect(json.content).toBe(
      `<p><span class="h-card"><a href="${PEER}/users/alice" class="u-url mention">@<span>alice</span></a></span> Thanks &lt;3 &amp; see you</p>`,
    );
  });
});
