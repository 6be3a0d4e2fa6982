#!/usr/bin/env bun
import packageJson from "../package.json" with { type: "json" };
import { makeDevToken } from "./cli/dev-token.ts";
import { healthUrlFor, probeHealth } from "./cli/healthcheck.ts";
import { COMMANDS, modeUsage, usage } from "./cli/help.ts";
import type { Config } from "./config/config.ts";
import { loadConfig, readExtraFlag } from "./config/load-config.ts";
import type { Mode } from "./config/settings.ts";
import { summarizeConfig } from "./config/summarize.ts";
import { type RunningService, StartupConfigurationError } from "./core/service.ts";
import { createBufferedStdout, createLogger, type Logger } from "./log.ts";

/** Exit codes: 0 clean shutdown, 1 runtime failure, 2 usage or configuration error. */
const EXIT = { ok: 0, failure: 1, usage: 2 } as const;
const SHUTDOWN_BOUND_MS = 10_000;
const HELP = { booleans: ["help", "h"] };

type Env = Readonly<Record<string, string | undefined>>;

const print = (text: string) => process.stdout.write(text);
const printError = (text: string) => process.stderr.write(`${text}\n`);

function wantsHelp(argv: readonly string[]): boolean {
  return argv.some((arg) => /^--?(help|h)$/.test(arg));
}

/** Loads the mode's wiring lazily, so the web never imports the Kubernetes client. */
async function startMode(config: Config, log: Logger): Promise<RunningService> {
  switch (config.mode) {
    case "web":
      return (await import("./wiring/web.ts")).startWeb(config, log);
    case "worker":
      return (await import("./wiring/worker.ts")).startWorker(config, log);
    case "standalone":
      return (await import("./wiring/standalone.ts")).startStandalone(config, log);
  }
}

async function runMode(mode: Mode, argv: readonly string[], env: Env): Promise<number> {
  if (wantsHelp(argv)) {
    print(modeUsage(mode, mode));
    return EXIT.ok;
  }
  const loaded = loadConfig(mode, argv, env);
  if (!loaded.ok) {
    printError(loaded.message);
    return EXIT.usage;
  }
  if (loaded.positional.length > 0) {
    printError(`error: unexpected argument "${loaded.positional[0]}"`);
    return EXIT.usage;
  }
  const { config } = loaded;
  const log = createLogger({ level: config.logLevel, write: createBufferedStdout() });
  log.info("configuration loaded", { version: packageJson.version, ...summarizeConfig(config) });
  // Listen for signals before starting: one that arrives during startup still ends in a clean stop.
  const signal = waitForSignal();
  let service: RunningService;
  try {
    service = await startMode(config, log);
  } catch (error) {
    if (error instanceof StartupConfigurationError) {
      printError(`error: invalid configuration: ${error.message}`);
      return EXIT.usage;
    }
    log.error("startup failed", { error });
    return EXIT.failure;
  }
  return waitForShutdown(service, signal, log);
}

function waitForSignal(): Promise<string> {
  return new Promise<string>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
}

async function waitForShutdown(
  service: RunningService,
  signal: Promise<string>,
  log: Logger,
): Promise<number> {
  log.info("shutting down", { signal: await signal });
  const bound = Bun.sleep(SHUTDOWN_BOUND_MS).then(() => "timeout" as const);
  const stopped = await Promise.race([service.stop().then(() => "stopped" as const), bound]);
  if (stopped === "timeout")
    log.warn("shutdown did not finish in time; exiting", { bound_ms: SHUTDOWN_BOUND_MS });
  else log.info("shutdown complete");
  return EXIT.ok;
}

async function runHealthcheck(argv: readonly string[], env: Env): Promise<number> {
  if (wantsHelp(argv)) {
    print(
      `${modeUsage("healthcheck", "web")}  --url URL\n      Probe this URL instead of http://127.0.0.1:<port of WEB_LISTEN_ADDR>/healthz.\n`,
    );
    return EXIT.ok;
  }
  const extra = { ...HELP, values: ["url"], requireOnly: [] };
  const loaded = loadConfig("web", argv, env, extra);
  if (!loaded.ok) {
    printError(loaded.message);
    return EXIT.usage;
  }
  const url = readExtraFlag(argv, "web", extra, "url") ?? healthUrlFor(loaded.config.web.listen);
  return (await probeHealth(url)) ? EXIT.ok : EXIT.failure;
}

function runDevToken(argv: readonly string[], env: Env): number {
  if (wantsHelp(argv)) {
    print(modeUsage("dev-token", "web"));
    return EXIT.ok;
  }
  const extra = { ...HELP, requireOnly: ["GITHUB_OIDC_AUDIENCE", "GITHUB_ALLOWED_ORG"] };
  const loaded = loadConfig("web", argv, env, extra);
  if (!loaded.ok) {
    printError(loaded.message);
    return EXIT.usage;
  }
  const { web } = loaded.config;
  if (!web.devMode)
    printError("warning: this unsigned token is accepted only by a web running with DEV_MODE=true");
  const nowSeconds = Math.floor(Date.now() / 1000);
  print(`${makeDevToken({ issuer: web.issuer, audience: web.audience, org: web.allowedOrg, nowSeconds })}\n`);
  return EXIT.ok;
}

/** Runs the command line and returns the exit code. */
export async function main(argv: readonly string[], env: Env): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "web":
    case "worker":
    case "standalone":
      return runMode(command, rest, env);
    case "healthcheck":
      return runHealthcheck(rest, env);
    case "dev-token":
      return runDevToken(rest, env);
    case "version":
    case "--version":
      if (wantsHelp(rest)) print(`Usage: kuberollouttrigger version\n\n${COMMANDS.version}\n`);
      else print(`kuberollouttrigger ${packageJson.version}\n`);
      return EXIT.ok;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      print(usage());
      return command === undefined ? EXIT.usage : EXIT.ok;
    default:
      printError(`error: unknown command "${command}" (${Object.keys(COMMANDS).join(", ")})\n${usage()}`);
      return EXIT.usage;
  }
}

if (import.meta.main) {
  process.exit(await main(process.argv.slice(2), process.env));
}
