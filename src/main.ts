#!/usr/bin/env bun
import packageJson from "../package.json" with { type: "json" };
import { runDevToken } from "./cli/dev-token.ts";
import { runHealthcheck } from "./cli/healthcheck.ts";
import { COMMANDS, commandUsage, usage } from "./cli/help.ts";
import { type CommandIo, EXIT, refuseCommandLine, wantsHelp } from "./cli/io.ts";
import { runSend } from "./cli/send.ts";
import type { Config } from "./config/config.ts";
import { loadConfig } from "./config/load-config.ts";
import { type Mode, settingsFor } from "./config/settings.ts";
import { summarizeConfig } from "./config/summarize.ts";
import { namesDifferingOnlyInCase } from "./core/cluster.ts";
import { type RunningService, StartupConfigurationError } from "./core/service.ts";
import { createBufferedStdout, createLogger, type Logger } from "./log.ts";

const SHUTDOWN_BOUND_MS = 10_000;

type Env = Readonly<Record<string, string | undefined>>;

const io: CommandIo = {
  print: (text) => process.stdout.write(text),
  printError: (line) => process.stderr.write(`${line}\n`),
};

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
    io.print(commandUsage(mode, settingsFor(mode), (s) => s.requiredIn?.includes(mode) === true));
    return EXIT.ok;
  }
  const loaded = loadConfig(mode, argv, env);
  if (refuseCommandLine(loaded, mode, io) || !loaded.ok) return EXIT.usage;
  const { config } = loaded;
  const log = createLogger({ level: config.logLevel, write: createBufferedStdout() });
  log.info("configuration loaded", { version: packageJson.version, ...summarizeConfig(config) });
  for (const warning of loaded.warnings) log.warn("configuration value replaced", { problem: warning });
  for (const names of namesDifferingOnlyInCase(config.web.expectedClusters))
    log.warn("expected clusters differ only in case; they are different clusters", {
      clusters: names.join(","),
    });
  // Listen for signals before starting: one that arrives during startup still ends in a clean stop.
  const signal = waitForSignal();
  let service: RunningService;
  try {
    service = await startMode(config, log);
  } catch (error) {
    if (error instanceof StartupConfigurationError) {
      io.printError(`error: invalid configuration: ${error.message}`);
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

function runVersion(argv: readonly string[]): number {
  if (wantsHelp(argv)) {
    io.print(`Usage: kuberollouttrigger version\n\n${COMMANDS.version}\n`);
    return EXIT.ok;
  }
  if (argv.length > 0) {
    io.printError(`error: version takes no arguments, got "${argv[0]}"`);
    return EXIT.usage;
  }
  io.print(`kuberollouttrigger ${packageJson.version}\n`);
  return EXIT.ok;
}

/**
 * The Go original's image had no ENTRYPOINT and ran `/server` as its CMD, so its users wrote
 * `args: ["/server", "web"]`. Here the binary is the ENTRYPOINT and such args arrive after it.
 */
const ORIGINAL_BINARY_PATH = "/server";

/** Runs the command line and returns the exit code. */
export async function main(argv: readonly string[], env: Env): Promise<number> {
  if (argv[0] === ORIGINAL_BINARY_PATH) return main(argv.slice(1), env);
  const [command, ...rest] = argv;
  switch (command) {
    case "web":
    case "worker":
    case "standalone":
      return runMode(command, rest, env);
    case "healthcheck":
      return runHealthcheck(rest, env, io);
    case "dev-token":
      return runDevToken(rest, env, io);
    case "send":
      return runSend(rest, env, io);
    case "dead-letters":
      // Loaded lazily, like the modes: the other commands never load the Valkey client's adapter.
      return (await import("./wiring/dead-letters.ts")).runDeadLettersCommand(rest, env, io);
    case "version":
    case "--version":
      return runVersion(rest);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      io.print(usage());
      return command === undefined ? EXIT.usage : EXIT.ok;
    default:
      io.printError(`error: unknown command "${command}" (${Object.keys(COMMANDS).join(", ")})\n${usage()}`);
      return EXIT.usage;
  }
}

if (import.meta.main) {
  process.exit(await main(process.argv.slice(2), process.env));
}
