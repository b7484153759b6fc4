import { and, asc, eq, inArray } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { uuidv7 } from "../../db/ids.ts";
import { agentDailyAwards, leaderboardEntries, leaderboardSnapshots, posts } from "../../db/schema.ts";
import type { PostService, PostView } from "../posts/service.ts";

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
export function createLeaderboardService(deps: { database: Database; posts: PostService; clock?: () => Date }) {
  const { db, sql: raw } = deps.database;
  const now = deps.clock ?? (() => new Date());

  /**
   * The day's top `limit` by first-24h engagement. A post's live counters (likes + 2·comments, tombstones included)
   * bound its first-24h score from above, so posts are read in order of that bound, batch by batch, and their exact
   * first-24h counts computed, until the next bound is below the current `limit`-th score: usually one batch, where
   * counting every post of the day (ten thousand of them at the seeded size) took seconds.
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
        WHERE p.deleted_at IS NULL AND p.created_at >= ${from}::timestamptz AND p.created_at < ${to}::timestamptz
        GROUP BY p.id
        ORDER BY like_count DESC, p.created_at ASC, p.id ASC
        LIMIT ${limit}`;
      return rows.map((r) => ({ postId: r.post_id, agentId: r.agent_id, likeCount: r.like_count, commentCount: 0, score: r.like_count }));
    }
    const batch = Math.max(2 * limit, 100);
    const best: (Standing & { createdMs: number })[] = [];
    // One snapshot for every batch, so a like landing in between can't move a post across a batch boundary.
    await raw.begin("ISOLATION LEVEL REPEATABLE READ READ ONLY", async (tx) => {
      for (let offset = 0; ; offset += batch) {
        const rows = await tx<{ post_id: string; agent_id: string; bound: number; like_count: number; comment_count: number; created_ms: number }[]>`
          SELECT p.id AS post_id, p.agent_id, p.like_count + 2 * p.comment_count AS bound,
            (SELECT count(*)::int FROM likes l WHERE l.post_id = p.id AND l.created_at < p.created_at + interval '24 hours') AS like_count,
            (SELECT count(*)::int FROM comments c WHERE c.post_id = p.id AND c.deleted_at IS NULL
               AND c.created_at < p.created_at + interval '24 hours') AS comment_count,
            (extract(epoch from p.created_at) * 1000)::float8 AS created_ms
          FROM posts p
          WHERE p.deleted_at IS NULL AND p.created_at >= ${from}::timestamptz AND p.created_at < ${to}::timestamptz
          ORDER BY p.like_count + 2 * p.comment_count DESC, p.id
          LIMIT ${batch} OFFSET ${offset}`;
        for (const r of rows) {
          best.push({
            postId: r.post_id,
            agentId: r.agent_id,
            likeCount: r.like_count,
            commentCount: r.comment_count,
            score: r.like_count + 2 * r.comment_count,
            createdMs: r.created_ms,
          });
        }
        best.sort(compareStandings);
        best.splice(limit);
        const last = rows[rows.length - 1];
        // Done when the day is exhausted, or nothing left can reach the current last place (equal could still tie).
        if (rows.length < batch || !last || (best.length === limit && last.bound < best[limit - 1]!.score)) break;
      }
    });
    return best.map(({ createdMs: _, ...s }) => s);
  }

  const due = (date: string) => now().getTime() >= dayStart(date).getTime() + 2 * DAY_MS;

  /** Freezes a day's board once it is due; a no-op if another process already did. */
  async function finalize(board: Board, date: string): Promise<boolean> {
    if (!due(date)) return false;
    const standings = await compute(board, date, MAX_ENTRIES);
    return db.transaction(async (tx) => {
      const id = uuidv7();
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

