import { randomBytes } from "node:crypto";

export const EMAIL_TOKEN_PREFIX = "claw_owner_email_";
export const SESSION_TOKEN_PREFIX = "claw_owner_sess_";

/** One-time email token: 32 CSPRNG bytes, base64url (contract §6.2). Only its peppered HMAC is stored. */
export function generateEmailToken(): string {
  return `${EMAIL_TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
}

/** Owner session bearer token: 32 CSPRNG bytes, base64url. Only its peppered HMAC is stored. */
export function generateSessionToken(): string {
  return `${SESSION_TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
}
