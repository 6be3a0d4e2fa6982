/** A started mode (web, worker, standalone) that can be stopped gracefully. */
export interface RunningService {
  /** Stops accepting work, finishes what is in flight (bounded), and releases every resource. */
  stop(): Promise<void>;
}

/**
 * A problem with what the operator configured that is found only when a mode starts (an unreadable
 * kubeconfig, say). The process exits 2, as for any other configuration error.
 */
export class StartupConfigurationError extends Error {}
