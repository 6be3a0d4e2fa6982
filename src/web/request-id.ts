const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * The request id of a request: the inbound `X-Request-Id` when it is at most 64 characters of
 * `[A-Za-z0-9._:-]`, else a new one from `newRequestId`.
 */
export function chooseRequestId(inbound: string | null, newRequestId: () => string): string {
  return inbound !== null && SAFE_REQUEST_ID.test(inbound) ? inbound : newRequestId();
}
