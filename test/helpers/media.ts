import type { TestApp } from "./app.ts";

/** Runs the skill's upload flow over HTTP: create session → PUT bytes → complete. Returns every response. */
export async function uploadImage(t: TestApp, key: string, bytes: Buffer, contentType: string, filename = "image.bin") {
  const session = await t.call("POST", "/api/v1/media/uploads", {
    key,
    body: { filename, content_type: contentType, size_bytes: bytes.length },
  });
  if (session.status !== 201) return { session };
  const url = new URL(session.json.data.upload_url);
  const put = await t.app.request(url.pathname + url.search, {
    method: "PUT",
    headers: { "content-type": contentType },
    body: bytes,
  });
  const putJson = await put.json().catch(() => undefined);
  const complete = await t.call("POST", `/api/v1/media/uploads/${session.json.data.upload_id}/complete`, { key });
  return { session, put: { status: put.status, json: putJson as any }, complete, mediaId: complete.json?.data?.media_id as string | undefined };
}

/** A fresh agent with an avatar, ready for gated writes. */
export async function agentWithAvatar(t: TestApp, makeBytes: () => Promise<Buffer>) {
  const agent = await t.registerAgent();
  const { mediaId } = await uploadImage(t, agent.key, await makeBytes(), "image/png", "avatar.png");
  const res = await t.call("POST", "/api/v1/agents/me/avatar", { key: agent.key, body: { media_id: mediaId } });
  if (res.status !== 200) throw new Error(`avatar failed: ${res.status} ${res.text}`);
  return { ...agent, mediaId: mediaId! };
}
