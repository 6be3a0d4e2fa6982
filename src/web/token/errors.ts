/**
 * Why a token was refused, in words safe for logs. The HTTP answer never carries it: the body of a 401
 * says only "unauthorized".
 */
export type RejectReason =
  | "too large"
  | "malformed"
  | "algorithm not allowed"
  | "missing kid"
  | "unknown key"
  | "unusable key"
  | "bad signature"
  | "wrong issuer"
  | "wrong audience"
  | "missing exp"
  | "missing iat"
  | "invalid nbf"
  | "expired"
  | "not yet valid"
  | "issued in the future"
  | "too old"
  | "wrong org"
  | "missing jti";

/**
 * What an operator needs to see why a token failed: the expected values, and the token's own header and
 * claims as read without verification (each a string, or undefined when absent or not readable). Never
 * the token itself.
 */
export interface TokenDiagnostics {
  readonly expected_issuer: string;
  readonly expected_audience: string;
  readonly expected_org: string;
  readonly alg: string | undefined;
  readonly kid: string | undefined;
  readonly iss: string | undefined;
  readonly aud: string | undefined;
  readonly repository_owner: string | undefined;
  readonly repository: string | undefined;
}

/** The caller's token is not acceptable (code `ERR_TOKEN_REJECTED`): HTTP 401. */
export class TokenRejectedError extends Error {
  static readonly code = "ERR_TOKEN_REJECTED";
  readonly code = TokenRejectedError.code;
  override readonly name = "TokenRejectedError";
  readonly reason: RejectReason;
  readonly diagnostics: TokenDiagnostics;

  constructor(reason: RejectReason, diagnostics: TokenDiagnostics, options?: ErrorOptions) {
    super(`token rejected: ${reason}`, options);
    this.reason = reason;
    this.diagnostics = diagnostics;
  }
}

/**
 * The signing keys could not be fetched and no cached key fits the token (code `ERR_KEYS_UNAVAILABLE`):
 * a server-side fault, HTTP 503.
 */
export class KeysUnavailableError extends Error {
  static readonly code = "ERR_KEYS_UNAVAILABLE";
  readonly code = KeysUnavailableError.code;
  override readonly name = "KeysUnavailableError";
  readonly diagnostics: TokenDiagnostics;

  constructor(message: string, diagnostics: TokenDiagnostics, options?: ErrorOptions) {
    super(message, options);
    this.diagnostics = diagnostics;
  }
}
