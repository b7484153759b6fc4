import { domainToASCII } from "node:url";

/** Longest address accepted, counted on the raw input and again on the normalized form (RFC 3696 errata). */
export const MAX_EMAIL_LENGTH = 320;

// The original validates with ajv-formats' `email`: an ASCII dot-atom local part and a hostname of LDH labels.
const LOCAL_PART = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const HOSTNAME = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * The canonical form of an owner's email address, or null when it is not one we accept.
 *
 * - Any control character (CR, LF, NUL, TAB, …) anywhere refuses the address: it is headed for a mail header, and a
 *   line break there would let a caller add headers or recipients.
 * - Surrounding spaces are trimmed and the address is lowercased (the contract's normalization).
 * - The local part must be an ASCII dot-atom, as in the original (a non-ASCII local part would need SMTPUTF8 from
 *   every relay on the way).
 * - Unicode domains are accepted and stored in their IDNA ASCII (punycode) form, via the WHATWG/UTS-46 mapping:
 *   `ann@bücher.de` and `ann@xn--bcher-kva.de` are the same owner, the address we return and mail to is the ASCII
 *   one, and no relay needs to understand UTF-8 to deliver it.
 */
export function normalizeEmail(raw: string): string | null {
  if ([...raw].length > MAX_EMAIL_LENGTH || /\p{Cc}/u.test(raw)) return null;
  const trimmed = raw.trim().toLowerCase();
  const at = trimmed.lastIndexOf("@");
  if (at <= 0 || at === trimmed.length - 1) return null;
  const local = trimmed.slice(0, at);
  if (!LOCAL_PART.test(local)) return null;
  const domain = domainToASCII(trimmed.slice(at + 1));
  if (!domain || !HOSTNAME.test(domain)) return null;
  const email = `${local}@${domain}`;
  return email.length <= MAX_EMAIL_LENGTH ? email : null;
}
