import { loadSettings } from "../config/load-config.ts";
import { SETTINGS } from "../config/settings.ts";
import type { Address } from "../core/address.ts";
import { commandUsage } from "./help.ts";
import { type CommandIo, EXIT, isHttpUrl, refuseCommandLine, wantsHelp } from "./io.ts";

/** The two listen addresses, described as what the probe takes from them: the port. */
const HEALTHCHECK_SETTINGS = SETTINGS.filter(
  (s) => s.env === "WEB_LISTEN_ADDR" || s.env === "WORKER_HEALTH_ADDR",
).map((s) => ({
  ...s,
  description:
    s.env === "WEB_LISTEN_ADDR"
      ? "The web's listen address; the probe asks 127.0.0.1 on its port."
      : "The worker's health address; with --worker the probe asks 127.0.0.1 on its port.",
}));

const EXTRA_FLAGS = [
  {
    usage: "--worker",
    description: "Probe the worker's /healthz (WORKER_HEALTH_ADDR) instead of the web's.",
  },
  {
    usage: "--url URL",
    description:
      "Probe this http(s) URL instead of http://127.0.0.1:<port of WEB_LISTEN_ADDR, or WORKER_HEALTH_ADDR>/healthz.",
  },
];

/** The probe URL for a listen address: loopback on the same port. */
function healthUrlFor(listen: Address): string {
  return `http://127.0.0.1:${listen.port}/healthz`;
}

/** Why a probe failed, or undefined when `url` answered 200. */
export async function probeHealth(url: string, timeoutMs = 3000): Promise<string | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    if (response.status === 200) return undefined;
    return `${url} answered ${response.status} ${response.statusText}`.trimEnd();
  } catch (error) {
    if (error instanceof DOMException && error.name === "TimeoutError")
      return `${url} did not answer within ${timeoutMs} ms`;
    const reason = error instanceof Error ? error.message : String(error);
    return `${url} did not answer: ${reason}`;
  }
}

/** Whether `text` is an http or https URL. */
/**
 * `kuberollouttrigger healthcheck [--worker] [--url URL]`: exits 0 when the probed `/healthz` answers
 * 200; otherwise 1, saying why on standard error. A bad command line exits 2.
 */
export async function runHealthcheck(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: CommandIo,
): Promise<number> {
  if (wantsHelp(argv)) {
    io.print(commandUsage("healthcheck", HEALTHCHECK_SETTINGS, () => false, EXTRA_FLAGS));
    return EXIT.ok;
  }
  const loaded = loadSettings(HEALTHCHECK_SETTINGS, argv, env, () => false, {
    booleans: ["worker"],
    values: ["url"],
  });
  if (refuseCommandLine(loaded, "healthcheck", io) || !loaded.ok) return EXIT.usage;
  const given = loaded.extraFlags.get("url");
  if (given !== undefined && !isHttpUrl(given)) {
    io.printError(`error: --url: "${given}" is not an http or https URL`);
    return EXIT.usage;
  }
  const worker = loaded.extraFlags.get("worker") === "true";
  const listen = loaded.values.get(worker ? "WORKER_HEALTH_ADDR" : "WEB_LISTEN_ADDR") as Address;
  const failure = await probeHealth(given ?? healthUrlFor(listen));
  if (failure === undefined) return EXIT.ok;
  io.printError(`healthcheck failed: ${failure}`);
  return EXIT.failure;
}
