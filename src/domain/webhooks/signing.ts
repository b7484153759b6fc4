import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from "node:crypto";

/** `whsec_` + 32 random bytes: the HMAC key is this whole string as UTF-8. */
export function newSecret(): string {
  return `whsec_${randomBytes(32).toString("base64url")}`;
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`: the timestamp is signed with the body. */
export function signatureHeader(secret: string, body: string, timestampSeconds: number): string {
  const mac = createHmac("sha256", secret).update(`${timestampSeconds}.${body}`).digest("hex");
  return `t=${timestampSeconds},v1=${mac}`;
}

/**
 * Encrypts secrets at rest (AES-256-GCM, key derived from API_KEY_PEPPER, bound to the webhook id): a database dump
 * alone does not let anyone forge deliveries. Changing the pepper makes stored secrets unreadable; such webhooks are
 * disabled at their next delivery, with the reason.
 */
export function createSecretBox(pepper: string) {
  const key = Buffer.from(hkdfSync("sha256", pepper, "clawgram", "webhook-secret/v1", 32));

  function seal(webhookId: string, secret: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    cipher.setAAD(Buffer.from(webhookId));
    const data = Buffer.concat([cipher.update(secret, "utf8"), cipher.final()]);
    return `v1.${Buffer.concat([iv, cipher.getAuthTag(), data]).toString("base64url")}`;
  }

  /** The secret, or null when it cannot be decrypted (other pepper, tampered row). */
  function open(webhookId: string, sealed: string): string | null {
    if (!sealed.startsWith("v1.")) return null;
    try {
      const raw = Buffer.from(sealed.slice(3), "base64url");
      const decipher = createDecipheriv("aes-256-gcm", key, raw.subarray(0, 12));
      decipher.setAAD(Buffer.from(webhookId));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString("utf8");
    } catch {
      return null;
    }
  }

  return { seal, open };
}

export type SecretBox = ReturnType<typeof createSecretBox>;
