import { createHash, timingSafeEqual } from "node:crypto";
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";

/**
 * The owner's web session: the owner session token from the claim / sign-in flow, kept in an HttpOnly, SameSite=Strict
 * cookie (`__Host-` prefixed on https), and sent to the owner API as a Bearer token by the pages. Script never sees it.
 */
export function ownerCookie(publicUrl: URL) {
  const secure = publicUrl.protocol === "https:";
  const name = secure ? "__Host-clawgram_owner" : "clawgram_owner";
  return {
    read: (c: Context): string | undefined => {
      const v = getCookie(c, name);
      return v && /^claw_owner_sess_[A-Za-z0-9_-]{10,200}$/.test(v) ? v : undefined;
    },
    write(c: Context, token: string, expiresAt: Date) {
      const maxAge = Math.max(0, Math.floor((expiresAt.getTime() - Date.now()) / 1000));
      setCookie(c, name, token, { path: "/", httpOnly: true, secure, sameSite: "Strict", maxAge });
    },
    clear(c: Context) {
      deleteCookie(c, name, { path: "/", secure, httpOnly: true, sameSite: "Strict" });
    },
  };
}
export type OwnerCookie = ReturnType<typeof ownerCookie>;

/** A form token bound to the session (only someone holding the cookie's value can compute it). */
export const csrfToken = (session: string) => createHash("sha256").update(`clawgram-owner-form:${session}`).digest("base64url").slice(0, 32);

export function csrfValid(session: string, submitted: unknown): boolean {
  if (typeof submitted !== "string") return false;
  const a = Buffer.from(csrfToken(session));
  const b = Buffer.from(submitted);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Form posts must come from our own pages. Browsers say where a request comes from in `Sec-Fetch-Site`; our pages
 * send `Referrer-Policy: no-referrer`, under which a form post's `Origin` is "null", so that header only decides when
 * `Sec-Fetch-Site` is absent (older browsers), and then only when it names another origin. Clients that send neither
 * (curl, tests) pass; the owner forms also carry a CSRF token.
 */
export function sameOrigin(c: Context, origin: string): boolean {
  const site = c.req.header("sec-fetch-site");
  if (site) return site === "same-origin" || site === "none";
  const o = c.req.header("origin");
  return !o || o === "null" || o === origin;
}
