import type { RequestTarget } from "./routing.ts";
import { statusResponse } from "./status.ts";

/** Which requests an injected fault applies to; unset fields match anything. */
export interface FaultMatch {
  verb?: string;
  method?: string;
  resource?: string;
  namespace?: string;
  name?: string;
}

/** The answer an injected fault gives, `times` times (default 1). */
export interface FaultResponse {
  status: number;
  reason?: string;
  message?: string;
  retryAfterSeconds?: number;
  times?: number;
}

/** An RBAC denial: `verb` on `resource` (either may be `*`), in `namespace` or, when unset, everywhere. */
export interface ForbidRule {
  verb: string;
  resource: string;
  namespace?: string;
}

interface Fault {
  readonly match: FaultMatch;
  readonly response: FaultResponse;
  remaining: number;
}

function matchesFault(match: FaultMatch, method: string, target: RequestTarget): boolean {
  return (
    (match.method === undefined || match.method.toUpperCase() === method) &&
    (match.verb === undefined || match.verb === target.verb) &&
    (match.resource === undefined || match.resource === target.resource) &&
    (match.namespace === undefined || match.namespace === target.namespace) &&
    (match.name === undefined || match.name === target.name)
  );
}

function forbiddenResponse(user: string, target: RequestTarget): Response {
  const resource = target.resource ?? "";
  const group = target.group ?? "";
  const subject =
    target.name === undefined ? `${resource}.${group}` : `${resource}.${group} "${target.name}"`;
  const scope =
    target.namespace === undefined ? "at the cluster scope" : `in the namespace "${target.namespace}"`;
  return statusResponse({
    code: 403,
    message: `${subject} is forbidden: User "${user}" cannot ${target.verb} resource "${resource}" in API group "${group}" ${scope}`,
    details: { ...(target.name !== undefined ? { name: target.name } : {}), group, kind: resource },
  });
}

/** Authorization rules and injected faults of one test server. */
export class RequestPolicy {
  #faults: Fault[] = [];
  #rules: ForbidRule[] = [];
  #namespaces: Set<string> | undefined;

  constructor(readonly user: string) {}

  /** Queues a fault; faults are consumed in the order they were added. */
  failNext(match: FaultMatch, response: FaultResponse): void {
    this.#faults.push({ match, response, remaining: response.times ?? 1 });
  }

  /** Queues a fault that answers every matching request until the returned function lifts it. */
  failUntilLifted(match: FaultMatch, response: Omit<FaultResponse, "times">): () => void {
    const fault: Fault = { match, response, remaining: Number.POSITIVE_INFINITY };
    this.#faults.push(fault);
    return () => {
      this.#faults = this.#faults.filter((f) => f !== fault);
    };
  }

  /** Adds an RBAC denial. */
  forbid(rule: ForbidRule): void {
    this.#rules.push(rule);
  }

  /** Allows resource requests only in these namespaces (cluster-scope requests are denied); `undefined` lifts it. */
  allowOnlyNamespaces(namespaces: string[] | undefined): void {
    this.#namespaces = namespaces === undefined ? undefined : new Set(namespaces);
  }

  /** Drops all faults and rules. */
  reset(): void {
    this.#faults = [];
    this.#rules = [];
    this.#namespaces = undefined;
  }

  /** The 403 answer for a request the rules deny, else `undefined`. */
  authorize(target: RequestTarget): Response | undefined {
    if (target.resource === undefined) return undefined;
    const denied = this.#rules.some(
      (rule) =>
        (rule.verb === "*" || rule.verb === target.verb) &&
        (rule.resource === "*" || rule.resource === target.resource) &&
        (rule.namespace === undefined || rule.namespace === target.namespace),
    );
    const outside =
      this.#namespaces !== undefined &&
      (target.namespace === undefined || !this.#namespaces.has(target.namespace));
    return denied || outside ? forbiddenResponse(this.user, target) : undefined;
  }

  /** Consumes the first fault that matches this request and returns its answer, else `undefined`. */
  takeFault(method: string, target: RequestTarget): Response | undefined {
    const fault = this.#faults.find((f) => f.remaining > 0 && matchesFault(f.match, method, target));
    if (fault === undefined) return undefined;
    fault.remaining--;
    this.#faults = this.#faults.filter((f) => f.remaining > 0);
    const { status, reason, message, retryAfterSeconds } = fault.response;
    const details: Record<string, unknown> = {};
    if (target.name !== undefined) details.name = target.name;
    if (target.resource !== undefined)
      Object.assign(details, { group: target.group ?? "", kind: target.resource });
    if (retryAfterSeconds !== undefined) details.retryAfterSeconds = retryAfterSeconds;
    return statusResponse({
      code: status,
      message:
        message ??
        (status === 429 ? "Too many requests, please try again later." : `injected fault ${status}`),
      ...(reason !== undefined ? { reason } : {}),
      ...(Object.keys(details).length > 0 ? { details } : {}),
    });
  }
}

/** The 401 answer when a bearer token is required and the request does not carry it, else `undefined`. */
export function authenticate(
  request: Request,
  token: string | (() => string) | undefined,
): Response | undefined {
  if (token === undefined) return undefined;
  const expected = typeof token === "function" ? token() : token;
  if (request.headers.get("authorization") === `Bearer ${expected}`) return undefined;
  return statusResponse({ code: 401, message: "Unauthorized" });
}
