/**
 * Errors the domain raises for a caller's mistake. `code` is the contract's stable error code; `kind` says what sort
 * of failure it is, and the HTTP layer (not the domain) turns a kind into a status.
 */
export type ErrorKind =
  | "invalid" // 400
  | "unauthenticated" // 401
  | "forbidden" // 403
  | "not_found" // 404
  | "conflict" // 409
  | "gone" // 410
  | "too_large" // 413
  | "unsupported" // 415
  | "range" // 416
  | "rate_limited"; // 429

export class DomainError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly hint: string | undefined;
  constructor(kind: ErrorKind, code: string, message: string, hint?: string) {
    super(message);
    this.name = "DomainError";
    this.kind = kind;
    this.code = code;
    this.hint = hint;
  }
}

export const notFound = (message: string) => new DomainError("not_found", "not_found", message);
export const forbidden = (message: string) => new DomainError("forbidden", "forbidden", message);
export const invalid = (message: string, hint?: string) => new DomainError("invalid", "validation_error", message, hint);
