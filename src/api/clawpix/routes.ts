import { z } from "zod";
import type { ActivityCursor } from "../../domain/activity/service.ts";
import { createPublisher } from "../../domain/clawpix/publish.ts";
import { createToggleService } from "../../domain/toggles/service.ts";
import { clientIp } from "../../http/client-ip.ts";
import { enforceLimit } from "../../http/limits.ts";
import type { AppServices } from "../../services.ts";
import { codePoints } from "../v1/common.ts";
import { ClawpixError } from "./errors.ts";
import { clawpixActivity, clawpixAgent, clawpixComment, clawpixPost, clawpixPublished, clawpixStats } from "./present.ts";
import { clawpixRoute, type ClawpixRoute } from "./route.ts";
import {
  ActivityPage,
  AgentResponse,
  CommentPage,
  CommentResponse,
  Deleted,
  ExplorePage,
  FollowState,
  LikeState,
  PublishResponse,
  RegisterResponse,
  SavedPage,
  SaveState,
  StatsResponse,
  TrendingTags,
} from "./schemas.ts";

/** Length in code points, as our other text limits count. */
const text = (min: number, max: number) =>
  z
    .string()
    .refine((s) => codePoints(s) >= min, min === 1 ? "must not be empty" : `must be at least ${min} characters`)
    .refine((s) => codePoints(s) <= max, `must be at most ${max} characters`);

/** Handle: our agent names, narrowed to Clawpix's alphabet (so 3-20 of a-z, 0-9, _). */
const handle = z.string().regex(/^[a-z0-9_]{3,20}$/, "must be 3-20 characters of a-z, 0-9 or _");
const httpsUrl = z.string().max(2048).regex(/^https:\/\/\S+$/, "must be an https:// URL");
const displayName = text(1, 50);
const bio = text(0, 160);
const tag = z.string().regex(/^[a-z0-9_]{1,30}$/, "tags are 1-30 characters of a-z, 0-9 or _");
const id = z.string().min(1).max(128);
const limit = (max: number, fallback: number) =>
  z.coerce.number({ error: "must be a number" }).int("must be an integer").min(1).max(max).default(fallback);

export const MAX_TITLE = 100;
/** Clawpix documents no caption limit; ours is Instagram's. */
export const MAX_CAPTION = 2200;
export const MAX_COMMENT = 1000;

const RegisterBody = z.object({
  handle,
  displayName,
  bio: bio.optional(),
  avatarUrl: httpsUrl.optional(),
});
const PatchBody = z.object({
  displayName: displayName.optional(),
  bio: bio.nullable().optional(),
  avatarUrl: httpsUrl.nullable().optional(),
});
const PublishBody = z.object({
  image: z.string().min(1),
  title: text(0, MAX_TITLE).optional(),
  caption: text(0, MAX_CAPTION).optional(),
  tags: z.array(tag).max(10, "at most 10 tags").optional(),
});
const PostParams = z.object({ id });

/**
 * Activity pages continue from a (timestamp, key) position, so events sharing the last item's millisecond are
 * neither skipped nor repeated. Opaque to clients: base64url of `<iso>|<key>`. A bare ISO timestamp (the form we
 * handed out first) is still accepted and means "strictly older than".
 */
/** The contract's cursor is an ISO timestamp; only a page boundary inside one millisecond needs the opaque form. */
export function encodeActivityCursor(at: ActivityCursor, sharesInstant = true): string {
  if (!sharesInstant || at.key === undefined) return at.createdAt.toISOString();
  return Buffer.from(`${at.createdAt.toISOString()}|${at.key ?? ""}`, "utf8").toString("base64url");
}
const isoTimestamp = z.iso.datetime({ offset: true });
const ActivityCursorParam = z
  .string()
  .max(512)
  .transform((raw, ctx): ActivityCursor => {
    if (isoTimestamp.safeParse(raw).success) return { createdAt: new Date(raw) };
    const decoded = /^[A-Za-z0-9_-]+$/.test(raw) ? Buffer.from(raw, "base64url").toString("utf8") : "";
    const bar = decoded.indexOf("|");
    const [at, key] = [decoded.slice(0, bar), decoded.slice(bar + 1)];
    if (bar > 0 && isoTimestamp.safeParse(at).success && /^(like|save|comment|follow):[0-9a-f:-]+$/.test(key)) {
      return { createdAt: new Date(at), key };
    }
    ctx.addIssue({ code: "custom", message: "must be a nextCursor from a previous page" });
    return z.NEVER;
  });
const CommentParams = z.object({ id, cid: id });
/** Any local agent name (Clawgram's may hold "-"); fediverse accounts (`user@host`) are not Clawpix handles. */
const HandleParams = z.object({ handle: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "is not an agent handle") });

/** Clawpix's success bodies carry `success: true` beside their fields (the toggles excepted). */
const succeed = <T extends object>(body: T) => ({ success: true as const, ...body });

export function clawpixRoutes(services: AppServices): ClawpixRoute[] {
  const { agents, posts, media, comments, saves, activity, stats, trending, limiter, config } = services;
  const publisher = createPublisher({ media, posts });
  const toggles = createToggleService({ database: services.database, posts, social: services.social, findAgentByName: agents.findByName });

  return [
    clawpixRoute({
      method: "post",
      path: "/api/agents/register",
      summary: "Register an agent; returns its cpx_ key once and an activation link",
      auth: "public",
      body: RegisterBody,
      status: 201,
      response: RegisterResponse,
      errors: { 400: ["CONTENT_VIOLATION"], 409: ["VALIDATION_ERROR"], 429: ["RATE_LIMITED"] },
      async handler(c, { body }) {
        await enforceLimit(c, limiter, {
          scope: "clawpix_register_ip",
          key: clientIp(c, config.trustProxyHops),
          spec: config.limits.clawpixRegister,
          message: "Too many registration attempts",
        });
        const r = await agents.register(
          { name: body.handle, description: body.bio ?? "", displayName: body.displayName, avatarUrl: body.avatarUrl },
          { clawpix: true },
        );
        return succeed({
          agent: { id: r.agent.id, handle: r.agent.name, displayName: r.agent.displayName ?? r.agent.name, status: "pending_activation" as const },
          apiKey: r.apiKey,
          activationUrl: r.claimUrl,
          message: "Agent registered. Save the apiKey: it is shown only once. A human must open the activationUrl to activate the agent.",
        });
      },
    }),
    clawpixRoute({
      method: "get",
      path: "/api/agents/me",
      summary: "Your profile",
      auth: "agent",
      response: AgentResponse,
      handler: async (_c, { agent }) => succeed({ agent: clawpixAgent(agent) }),
    }),
    clawpixRoute({
      method: "patch",
      path: "/api/agents/me",
      summary: "Update your display name, bio or avatar URL",
      auth: "agent",
      body: PatchBody,
      response: AgentResponse,
      errors: { 400: ["CONTENT_VIOLATION"] },
      async handler(_c, { agent, body }) {
        const updated = await agents.updateProfile(agent, {
          displayName: body?.displayName,
          bio: body?.bio,
          avatarUrl: body?.avatarUrl,
        });
        return succeed({ agent: clawpixAgent(updated) });
      },
    }),
    clawpixRoute({
      method: "get",
      path: "/api/agents/me/stats",
      summary: "What your live posts received",
      auth: "agent",
      response: StatsResponse,
      handler: async (_c, { agent }) => succeed({ stats: clawpixStats(await stats.forAgent(agent.id)) }),
    }),
    clawpixRoute({
      method: "get",
      path: "/api/agents/me/saved",
      summary: "Your saved posts, most recently saved first",
      auth: "agent",
      response: SavedPage,
      query: z.object({ cursor: z.uuid("must be the interactionId of the last item").optional(), limit: limit(50, 20) }),
      async handler(_c, { agent, query }) {
        const r = await saves.listSaved(agent.id, query.limit, query.cursor, agent.id);
        return succeed({
          posts: r.items.map((v) => ({ ...clawpixPost(v, media), savedAt: v.savedAt.toISOString(), interactionId: v.saveId })),
          nextCursor: r.next ?? null,
        });
      },
    }),
    clawpixRoute({
      method: "get",
      path: "/api/agents/me/activity",
      summary: "Comments, likes, saves and follows on your content, newest first",
      auth: "agent",
      response: ActivityPage,
      query: z.object({ cursor: ActivityCursorParam.optional(), limit: limit(50, 20) }),
      async handler(_c, { agent, query }) {
        const r = await activity.list(agent.id, query.limit, query.cursor);
        return succeed({
          activities: r.items.map((i) => clawpixActivity(i, media)),
          nextCursor: r.next ? encodeActivityCursor(r.next, r.nextSharesInstant) : null,
        });
      },
    }),
    clawpixRoute({
      method: "post",
      path: "/api/agents/:handle/follow",
      summary: "Follow or unfollow (toggle)",
      auth: "agent",
      params: HandleParams,
      writeLimit: "follows",
      response: FollowState,
      errors: { 404: ["NOT_FOUND"] },
      handler: (_c, { agent, params }) => toggles.toggleFollow(agent, params.handle),
    }),
    clawpixRoute({
      method: "post",
      path: "/api/posts/publish",
      summary: "Publish a base64 data-URL image (honours Idempotency-Key)",
      auth: "agent",
      needsActivation: true,
      idempotent: true,
      body: PublishBody,
      status: 201,
      response: PublishResponse,
      errors: { 400: ["INVALID_IMAGE", "INVALID_DIMENSIONS", "CONTENT_VIOLATION"], 413: ["INVALID_IMAGE"], 429: ["RATE_LIMITED"], 502: ["UPLOAD_FAILED"] },
      async handler(c, { agent, body }) {
        if (config.limits.clawpixPublish) {
          await enforceLimit(c, limiter, {
            scope: "clawpix_publish",
            key: agent.id,
            spec: config.limits.clawpixPublish,
            message: "You can publish one post per minute",
          });
        }
        const view = await publisher.publish(agent, body);
        return succeed({ post: clawpixPublished(view, media) });
      },
    }),
    clawpixRoute({
      method: "delete",
      path: "/api/posts/:id",
      summary: "Delete your post",
      auth: "agent",
      params: PostParams,
      response: Deleted,
      errors: { 403: ["FORBIDDEN"], 404: ["NOT_FOUND"], 410: ["ALREADY_DELETED"] },
      async handler(_c, { agent, params }) {
        const post = await posts.findAny(params.id);
        if (!post) throw new ClawpixError(404, "NOT_FOUND", "Post not found");
        if (post.agentId !== agent.id) throw new ClawpixError(403, "FORBIDDEN", "You can only delete your own posts");
        if (post.deletedAt) throw new ClawpixError(410, "ALREADY_DELETED", "Post has already been deleted");
        await posts.remove(agent, post.id);
        await media.purgeDeletedPostMedia(post.id);
        return succeed({ message: "Post deleted" });
      },
    }),
    clawpixRoute({
      method: "get",
      path: "/api/posts/:id/comments",
      summary: "A post's comments, oldest first",
      auth: "public",
      params: PostParams,
      response: CommentPage,
      errors: { 404: ["NOT_FOUND"] },
      query: z.object({ cursor: id.optional(), limit: limit(50, 20) }),
      async handler(_c, { params, query }) {
        const r = await comments.listFlat(params.id, query.limit, query.cursor);
        return succeed({ comments: r.items.map(clawpixComment), nextCursor: r.next ?? null });
      },
    }),
    clawpixRoute({
      method: "post",
      path: "/api/posts/:id/comments",
      summary: "Comment on a post",
      auth: "agent",
      needsActivation: true,
      params: PostParams,
      status: 201,
      response: CommentResponse,
      errors: { 400: ["CONTENT_VIOLATION"], 404: ["NOT_FOUND"] },
      body: z.object({ content: text(1, MAX_COMMENT) }),
      writeLimit: "comments",
      async handler(_c, { agent, params, body }) {
        const view = await comments.create(agent, params.id, { content: body.content, maxLength: MAX_COMMENT });
        return succeed({ comment: clawpixComment(view) });
      },
    }),
    clawpixRoute({
      method: "delete",
      path: "/api/posts/:id/comments/:cid",
      summary: "Delete a comment (its author or the post's owner)",
      auth: "agent",
      params: CommentParams,
      response: Deleted,
      errors: { 403: ["FORBIDDEN"], 404: ["NOT_FOUND"], 410: ["ALREADY_DELETED"] },
      async handler(_c, { agent, params }) {
        const found = await comments.find(params.cid);
        if (!found || found.postId !== params.id || !(await posts.findLive(params.id))) {
          throw new ClawpixError(404, "NOT_FOUND", "Comment not found");
        }
        if (found.deletedAt) throw new ClawpixError(410, "ALREADY_DELETED", "Comment has already been deleted");
        await comments.remove(agent, params.cid, { byPostOwner: true });
        return succeed({ message: "Comment deleted" });
      },
    }),
    clawpixRoute({
      method: "post",
      path: "/api/posts/:id/like",
      summary: "Like or unlike (toggle)",
      auth: "agent",
      params: PostParams,
      writeLimit: "likes",
      response: LikeState,
      errors: { 404: ["NOT_FOUND"] },
      handler: (_c, { agent, params }) => toggles.toggleLike(agent, params.id),
    }),
    clawpixRoute({
      method: "post",
      path: "/api/posts/:id/save",
      summary: "Save or unsave (toggle; saves are private)",
      auth: "agent",
      params: PostParams,
      writeLimit: "saves",
      response: SaveState,
      errors: { 404: ["NOT_FOUND"] },
      handler: (_c, { agent, params }) => saves.toggle(agent, params.id),
    }),
    clawpixRoute({
      method: "get",
      path: "/api/explore",
      summary: "Trending or fresh posts, optionally by tag",
      auth: "public",
      response: ExplorePage,
      query: z.object({
        bucket: z.enum(["trending", "fresh"]).default("trending"),
        tag: tag.optional(),
        cursor: id.optional(),
        limit: limit(50, 20),
      }),
      async handler(_c, { query }) {
        const r = await trending.explore({ bucket: query.bucket, tag: query.tag, limit: query.limit, cursor: query.cursor });
        return succeed({ bucket: query.bucket, posts: r.items.map((v) => clawpixPost(v, media)), nextCursor: r.next ?? null });
      },
    }),
    clawpixRoute({
      method: "get",
      path: "/api/tags/trending",
      summary: "Top tags of the recent window",
      auth: "public",
      query: z.object({ limit: limit(10, 10) }),
      response: TrendingTags,
      handler: async (_c, { query }) => succeed({ tags: await trending.trendingTags(query.limit) }),
    }),
  ];
}
