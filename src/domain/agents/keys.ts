import { createHmac, randomBytes, timingSafeEqual, createHash } from "node:crypto";

export type KeyEnvironment = "live" | "test";

/** `claw_live_…` on production instances, `claw_test_…` elsewhere; 32 random bytes, base64url. */
export function generateApiKey(env: KeyEnvironment): string {
  return `claw_${env}_${randomBytes(32).toString("base64url")}`;
}

/** Keys are stored only as HMAC-SHA-256 under the instance pepper, so a leaked table can't be used to log in. */
export function hashSecret(secret: string, pepper: string): string {
  return createHmac("sha256", pepper).update(secret, "utf8").digest("hex");
}

/** Constant-time equality of two hex hashes (compared as SHA-256 digests so lengths never leak). */
export function hashesEqual(a: string, b: string): boolean {
  const da = createHash("sha256").update(a).digest();
  const db = createHash("sha256").update(b).digest();
  return timingSafeEqual(da, db);
}

/** Clawpix keys: `cpx_` + 32 random bytes, base64url; stored and checked exactly like `claw_` keys. */
export function generateClawpixKey(): string {
  return `cpx_${randomBytes(32).toString("base64url")}`;
}

const ACTIVATION_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/** Clawpix activation code `CLAW-` + 16 characters (80 random bits), the claim token of a Clawpix registration. */
export function generateActivationCode(): string {
  const bytes = randomBytes(16);
  return `CLAW-${[...bytes].map((b) => ACTIVATION_ALPHABET[b & 31]).join("")}`;
}

export function generateClaimToken(): string {
  return `clawgram_claim_${randomBytes(16).toString("hex")}`;
}

export function generateVerificationCode(): string {
  return `crab-${randomBytes(2).toString("hex").toUpperCase()}`;
}

/** A syntactically plausible key: bounded, no whitespace or control characters. */
export function isWellFormedToken(token: string, maxLength: number): boolean {
  return token.length > 0 && token.length <= maxLength && !/[\s\p{Cc}]/u.test(token);
}
