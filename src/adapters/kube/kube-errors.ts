import { StartupConfigurationError } from "../../core/service.ts";

/** Stable codes of {@link KubeConfigError}. */
export type KubeConfigErrorCode =
  | "ERR_KUBE_CONFIG_INVALID"
  | "ERR_KUBE_INSECURE_TLS"
  | "ERR_KUBE_UNSUPPORTED_AUTH"
  | "ERR_KUBE_NOT_IN_CLUSTER";

/** The cluster access settings cannot be used: raised at startup, never at runtime. */
export class KubeConfigError extends StartupConfigurationError {
  constructor(
    readonly code: KubeConfigErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "KubeConfigError";
  }
}

/** What the API server said about a failed request, from its `Status` body and headers. */
export interface KubeStatus {
  readonly code: number;
  readonly reason: string;
  readonly message: string;
  /** From the `Retry-After` header, else the Status' `details.retryAfterSeconds`. */
  readonly retryAfterSeconds: number | undefined;
}

/** The API server answered with a failure status. */
export class KubeApiError extends Error {
  readonly code = "ERR_KUBE_API";
  constructor(readonly status: KubeStatus) {
    super(`Kubernetes API answered ${status.code} ${status.reason}: ${status.message}`);
    this.name = "KubeApiError";
  }
}

/** The API server could not be reached or the connection broke (DNS, refused, reset, TLS failure). */
export class KubeUnreachableError extends Error {
  readonly code = "ERR_KUBE_UNREACHABLE";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "KubeUnreachableError";
  }
}
