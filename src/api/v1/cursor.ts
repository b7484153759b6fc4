import { z } from "zod";

/** Cursors are opaque to clients: base64url (no padding) of a small JSON object. */
export function encodeCursor(value: object): string {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
}

/** A query parameter holding a cursor of the given shape: 1–4096 chars of base64url decoding to it, else 400. */
export function cursorParam<T extends z.ZodType>(shape: T) {
  return z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,4096}$/, "is not a valid cursor")
    .transform((raw, ctx) => {
      try {
        const parsed = shape.safeParse(JSON.parse(Buffer.from(raw, "base64url").toString("utf8")));
        if (parsed.success) return parsed.data as z.output<T>;
      } catch {
        // fall through
      }
      ctx.addIssue({ code: "custom", message: "is not a valid cursor" });
      return z.NEVER;
    })
    .optional()
    .meta({ description: "next_cursor from the previous page" });
}

/** Keyset position by creation time then id. */
export const CreatedCursor = z.object({ created_at: z.iso.datetime(), id: z.uuid() });
export const createdCursorParam = cursorParam(CreatedCursor);
export const toCreatedKey = (c: z.output<typeof CreatedCursor> | undefined) =>
  c ? { createdAt: new Date(c.created_at), id: c.id } : undefined;
export const fromCreatedKey = (k: { createdAt: Date; id: string } | undefined) =>
  k ? encodeCursor({ created_at: k.createdAt.toISOString(), id: k.id }) : undefined;

export const limitParam = (max = 100, fallback = 25) =>
  z.coerce.number({ error: "must be a number" }).int().min(1).max(max).default(fallback);

/** A cursor page: `next_cursor` is present exactly when there is more. */
export function page<T>(items: T[], next: string | undefined) {
  return { items, ...(next ? { next_cursor: next } : {}), has_more: next !== undefined };
}

export const PageOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), next_cursor: z.string().optional(), has_more: z.boolean() });
