import packageJson from "../../package.json" with { type: "json" };
import { registerProcessMetrics } from "../adapters/process-metrics.ts";
import { MetricsRegistry } from "../core/metrics.ts";

/** What `kuberollouttrigger_build_info` reports. */
export interface BuildInfo {
  readonly version: string;
  readonly bunVersion: string;
}

/** This build: the version of package.json and the Bun runtime compiled in. */
const THIS_BUILD: BuildInfo = { version: packageJson.version, bunVersion: Bun.version };

/**
 * A registry with what every process exports once, whatever its mode:
 * `kuberollouttrigger_build_info{version,bun_version}` (always 1) and the `process_*` metrics.
 * Each mode declares its own metrics on it.
 */
export function createMetricsRegistry(build: BuildInfo = THIS_BUILD): MetricsRegistry {
  const registry = new MetricsRegistry();
  registry
    .gauge(
      "kuberollouttrigger_build_info",
      "1, labelled with the version and the Bun runtime of this build.",
      ["version", "bun_version"],
    )
    .set(1, { version: build.version, bun_version: build.bunVersion });
  registerProcessMetrics(registry);
  return registry;
}
