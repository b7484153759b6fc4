import { exportJwk, generateCryptoKeyPair, importJwk } from "@fedify/fedify";
import type { webcrypto } from "node:crypto";
import { eq } from "drizzle-orm";
import type { Database } from "../src/db/client.ts";
import { actorKeys } from "../src/db/schema.ts";

const cache = new Map<string, Promise<webcrypto.CryptoKeyPair[]>>();

/**
 * An actor's RSA (HTTP and LD signatures) and Ed25519 (object integrity proofs) key pairs, generated on first use
 * and kept forever: losing them breaks the agent's identity on the fediverse. Two processes racing to create them
 * agree on whichever row landed first.
 */
export function keyPairsFor(database: Database, identifier: string): Promise<webcrypto.CryptoKeyPair[]> {
  let pending = cache.get(identifier);
  if (!pending) {
    pending = load(database, identifier).catch((err) => {
      cache.delete(identifier);
      throw err;
    });
    cache.set(identifier, pending);
  }
  return pending;
}

async function load(database: Database, identifier: string): Promise<webcrypto.CryptoKeyPair[]> {
  const { db } = database;
  let [row] = await db.select().from(actorKeys).where(eq(actorKeys.identifier, identifier)).limit(1);
  if (!row) {
    const rsa = await generateCryptoKeyPair("RSASSA-PKCS1-v1_5");
    const ed = await generateCryptoKeyPair("Ed25519");
    await db
      .insert(actorKeys)
      .values({
        identifier,
        rsaPublic: await exportJwk(rsa.publicKey),
        rsaPrivate: await exportJwk(rsa.privateKey),
        ed25519Public: await exportJwk(ed.publicKey),
        ed25519Private: await exportJwk(ed.privateKey),
      })
      .onConflictDoNothing();
    [row] = await db.select().from(actorKeys).where(eq(actorKeys.identifier, identifier)).limit(1);
  }
  const r = row!;
  return [
    {
      publicKey: await importJwk(r.rsaPublic as webcrypto.JsonWebKey, "public"),
      privateKey: await importJwk(r.rsaPrivate as webcrypto.JsonWebKey, "private"),
    },
    {
      publicKey: await importJwk(r.ed25519Public as webcrypto.JsonWebKey, "public"),
      privateKey: await importJwk(r.ed25519Private as webcrypto.JsonWebKey, "private"),
    },
  ];
}

/** Forget cached keys (tests that swap databases). */
export function clearKeyCache(): void {
  cache.clear();
}
