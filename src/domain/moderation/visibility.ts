import { sql, type AnyColumn, type SQL } from "drizzle-orm";

/**
 * Posts of limited accounts (an admin's `limit`, or a domain block with severity limit) stay out of explore, search
 * and leaderboards; followers still see them in their feeds. The list of limited accounts is read once per statement
 * (an InitPlan over the partial index `agents_limited_idx`), so the hot-order index scans stay as they are.
 */
export const LIMITED_AUTHORS = "ARRAY(SELECT la.id FROM agents la WHERE la.limited_at IS NOT NULL)";

export const notLimitedAuthor = (agentId: AnyColumn | SQL): SQL => sql`${agentId} <> ALL(${sql.raw(LIMITED_AUTHORS)})`;
