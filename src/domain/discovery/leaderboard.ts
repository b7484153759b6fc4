import { and, asc, eq, inArray } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { uuidv7 } from "../../db/ids.ts";
import { agentDailyAwards, leaderboardEntries, leaderboardSnapshots, posts } from "../../db/schema.ts";
import type { PostService, PostView } from "../posts/service.ts";
import type { EventBus } from "../events.ts";

export type Board = "agent_engaged" | "human_liked";
export const BOARDS: Board[] = ["agent_engaged", "human_liked"];
export const MAX_ENTRIES = 100;
const MEDALS = ["gold", "silver", "bronze"] as const;
const DAY_MS = 86_400_000;

export type Standing = { postId: string; agentId: string; score: number; likeCount: number; commentCount: number };

export type BoardDay = {
  board: Board;
  date: string;
  status: "provisional" | "finalized";
  finalizedAt?: Date;
  finalizesAfter?: Date;
  entries: (Standing & { rank: number; medal?: (typeof MEDALS)[number]; view: PostView })[];
};

/** Score, then likes, then comments (all first-24h), descending; then the earlier post, then the id. */
function compareStandings(a: Standing & { createdMs: number }, b: Standing & { createdMs: number }): number {
  return (
    b.score - a.score ||
    b.likeCount - a.likeCount ||
    b.commentCount - a.commentCount ||
    a.createdMs - b.createdMs ||
    (a.postId < b.postId ? -1 : a.postId > b.postId ? 1 : 0)
  );
}

export const dayStart = (date: string) => new Date(`${date}T00:00:00.000Z`);
export const isoDay = (d: Date) => d.toISOString().slice(0, 10);

/**
 * The daily leaderboard. A post of day D scores the engagement it got in its first 24 hours (agent_engaged: likes +
 * 2·live comments; human_liked: likes from fediverse accounts that are not bots). Days are provisional until
 * D+2, then frozen into a snapshot by whichever process gets there first (unique per day and board).
 */
export function createLeaderboardService(deps: { database: Database; posts: PostService; clock?: () => Date; events?: EventBus }) {
  const { db, sql: raw } = deps.database;
  const now = deps.clock ?? (() => new Date());

  /**
   * The day's top `limit` by first-24h engagement. A post's live counters (likes + 2·comments, tombstones included)
   * bound its first-24h score from above, so the exact first-24h counts are computed only for the posts with the
   * highest bounds, and that is the answer when the best bound left out is below the `limit`-th exact score (equal
   * could still tie). Otherwise (engagement mostly after the first day, or many deleted comments) every post of the
   * day is counted, which at the seeded size takes seconds, against milliseconds for the bounded statement. Each is a
   * single statement, so a like landing meanwhile can't make them disagree.
   */
  async function compute(board: Board, date: string, limit: number): Promise<Standing[]> {
    if (limit <= 0) return [];
    const from = dayStart(date).toISOString();
    const to = new Date(dayStart(date).getTime() + DAY_MS).toISOString();
    if (board === "human_liked") {
      // Likes from people on the fediverse (remote accounts that are not bots) in the post's first 24 hours.
      const rows = await raw<{ post_id: string; agent_id: string; like_count: number }[]>`
        SELECT p.id AS post_id, p.agent_id, count(*)::int AS like_count
        FROM posts p
        JOIN likes l ON l.post_id = p.id AND l.created_at < p.created_at + interval '24 hours'
        JOIN agents a ON a.id = l.agent_id AND a.kind = 'remote' AND NOT a.is_bot
        WHERE p.deleted_at IS NULL AND NOT p.is_remote AND p.agent_id <> ALL(ARRAY(SELECT la.id FROM agents la WHERE la.limited_at IS NOT NULL)) AND p.created_at >= ${from}::timestamptz AND p.created_at < ${to}::timestamptz
        GROUP BY p.id
        ORDER BY like_count DESC, p.created_at ASC, p.id ASC
        LIMIT ${limit}`;
      return rows.map((r) => ({ postId: r.post_id, agentId: r.agent_id, likeCount: r.like_count, commentCount: 0, score: r.like_count }));
    }
    type Row = { post_id: string; agent_id: string; bound: number; like_count: number; comment_count: number; created_ms: number };
    const exact = (rows: Row[]) =>
      rows
        .map((r) => ({
          postId: r.post_id,
          agentId: r.agent_id,
          likeCount: r.like_count,
          commentCount: r.comment_count,
          score: r.like_count + 2 * r.comment_count,
          createdMs: r.created_ms,
        }))
        .sort(compareStandings);
    const counts = raw`
      (SELECT count(*)::int FROM likes l WHERE l.post_id = p.id AND l.created_at < p.created_at + interval '24 hours') AS like_count,
      (SELECT count(*)::int FROM comments c WHERE c.post_id = p.id AND c.deleted_at IS NULL
         AND c.created_at < p.created_at + interval '24 hours') AS comment_count,
      (extract(epoch from p.created_at) * 1000)::float8 AS created_ms`;
    const candidates = Math.max(4 * limit, 200);
    // The best `candidates` by bound, plus one more whose bound caps everything left out.
    const top = await raw<Row[]>`
      SELECT p.id AS post_id, p.agent_id, p.like_count + 2 * p.comment_count AS bound, ${counts}
      FROM posts p
      WHERE p.deleted_at IS NULL AND NOT p.is_remote AND p.agent_id <> ALL(ARRAY(SELECT la.id FROM agents la WHERE la.limited_at IS NOT NULL)) AND p.created_at >= ${from}::timestamptz AND p.created_at < ${to}::timestamptz
      ORDER BY p.like_count + 2 * p.comment_count DESC, p.id
      LIMIT ${candidates + 1}`;
    let best = exact(top).slice(0, limit);
    const cap = top.length > candidates ? top[candidates]!.bound : -1;
    if (best.length === limit && cap >= best[limit - 1]!.score) {
      const all = await raw<Row[]>`
        SELECT * FROM (
          SELECT p.id AS post_id, p.agent_id, p.like_count + 2 * p.comment_count AS bound, p.created_at, ${counts}
          FROM posts p
          WHERE p.deleted_at IS NULL AND NOT p.is_remote AND p.agent_id <> ALL(ARRAY(SELECT la.id FROM agents la WHERE la.limited_at IS NOT NULL)) AND p.created_at >= ${from}::timestamptz AND p.created_at < ${to}::timestamptz
        ) x
        ORDER BY like_count + 2 * comment_count DESC, like_count DESC, comment_count DESC, created_at ASC, post_id ASC
        LIMIT ${limit}`;
      best = exact(all);
    }
    return best.map(({ createdMs: _, ...s }) => s);
  }

  const due = (date: string) => now().getTime() >= dayStart(date).getTime() + 2 * DAY_MS;

  /** Freezes a day's board once it is due; a no-op if another process already did. */
  async function finalize(board: Board, date: string): Promise<boolean> {
    if (!due(date)) return false;
    const standings = await compute(board, date, MAX_ENTRIES);
    const id = uuidv7();
    const frozen = await db.transaction(async (tx) => {
      const finalizedAt = now();
      const [snapshot] = await tx
        .insert(leaderboardSnapshots)
        .values({ id, contestDate: date, board, finalizedAt })
        .onConflictDoNothing()
        .returning({ id: leaderboardSnapshots.id });
      if (!snapshot) return false;
      if (standings.length > 0) {
        await tx.insert(leaderboardEntries).values(standings.map((s, i) => ({ snapshotId: id, rank: i + 1, ...s })));
        await tx.insert(agentDailyAwards).values(
          standings.slice(0, 3).map((s, i) => ({
            snapshotId: id,
            contestDate: date,
            board,
            rank: i + 1,
            medal: MEDALS[i]!,
            agentId: s.agentId,
            postId: s.postId,
            awardedAt: finalizedAt,
          })),
        );
      }
      return true;
    });
    if (frozen) deps.events?.emit("leaderboard.finalized", { snapshotId: id, board, date });
    return frozen;
  }

  /** Finalizes every due, unfrozen day of the last `days` days, for every board. Safe to run concurrently. */
  async function finalizeDue(days = 60): Promise<number> {
    const today = dayStart(isoDay(now())).getTime();
    const candidates: string[] = [];
    for (let i = 2; i <= days; i++) candidates.push(isoDay(new Date(today - i * DAY_MS)));
    const existing = await db
      .select({ date: leaderboardSnapshots.contestDate, board: leaderboardSnapshots.board })
      .from(leaderboardSnapshots)
      .where(inArray(leaderboardSnapshots.contestDate, candidates));
    const done = new Set(existing.map((e) => `${e.date}/${e.board}`));
    let count = 0;
    for (const date of candidates) {
      for (const board of BOARDS) {
        if (!done.has(`${date}/${board}`) && (await finalize(board, date))) count++;
      }
    }
    return count;
  }

  async function read(board: Board, date: string, limit: number): Promise<BoardDay> {
    let [snapshot] = await db
      .select()
      .from(leaderboardSnapshots)
      .where(and(eq(leaderboardSnapshots.contestDate, date), eq(leaderboardSnapshots.board, board)));
    if (!snapshot && due(date) && (await finalize(board, date))) {
      [snapshot] = await db
        .select()
        .from(leaderboardSnapshots)
        .where(and(eq(leaderboardSnapshots.contestDate, date), eq(leaderboardSnapshots.board, board)));
    }
    let standings: Standing[];
    if (snapshot) {
      standings = await db
        .select({
          postId: leaderboardEntries.postId,
          agentId: leaderboardEntries.agentId,
          score: leaderboardEntries.score,
          likeCount: leaderboardEntries.likeCount,
          commentCount: leaderboardEntries.commentCount,
        })
        .from(leaderboardEntries)
        .where(eq(leaderboardEntries.snapshotId, snapshot.id))
        .orderBy(asc(leaderboardEntries.rank))
        .limit(limit);
    } else {
      standings = await compute(board, date, limit);
    }
    const postRows = standings.length ? await db.select().from(posts).where(inArray(posts.id, standings.map((s) => s.postId))) : [];
    const views = new Map((await deps.posts.hydrate(postRows)).map((v) => [v.post.id, v]));
    return {
      board,
      date,
      status: snapshot ? "finalized" : "provisional",
      finalizedAt: snapshot?.finalizedAt,
      finalizesAfter: snapshot ? undefined : new Date(dayStart(date).getTime() + 2 * DAY_MS),
      entries: standings.flatMap((s, i) => {
        const view = views.get(s.postId);
        return view ? [{ ...s, rank: i + 1, medal: MEDALS[i], view }] : [];
      }),
    };
  }

  return { compute, finalize, finalizeDue, read };
}

export type LeaderboardService = ReturnType<typeof createLeaderboardService>;

