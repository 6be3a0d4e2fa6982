import { type Mode, settingsFor } from "../config/settings.ts";

/** One-line summaries of the sub-commands, in the order `--help` lists them. */
export const COMMANDS: Readonly<Record<string, string>> = {
  web: "Accept authenticated events over HTTP and hand them to Valkey.",
  worker: "Consume events from Valkey and restart matching workloads.",
  standalone: "Run web and worker in one process (local use and single-node clusters).",
  healthcheck: "Probe a /healthz endpoint and exit 0 when it answers 200 (for images without curl).",
  "dev-token": "Print a short-lived unsigned token for DEV_MODE testing.",
  version: "Print the version.",
};

/** The top-level usage text. */
export function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, summary]) => `  ${name.padEnd(12)}${summary}`);
  return `Usage: kuberollouttrigger <command> [flags]\n\nCommands:\n${lines.join("\n")}\n\nRun 'kuberollouttrigger <command> --help' for the flags of a command.\n`;
}

/** The usage text of one mode: its flags, variables and defaults from the settings table. */
export function modeUsage(command: string, mode: Mode, extra = ""): string {
  const rows = settingsFor(mode).map((s) => {
    const fallback = s.default !== undefined && s.default !== "" ? `default ${s.default}` : s.derivedDefault;
    const required = s.requiredIn?.includes(mode) ? "required" : fallback ? fallback : "optional";
    return `  --${s.flag} (${s.env}; ${required})\n      ${s.description}`;
  });
  return `Usage: kuberollouttrigger ${command} [flags]\n\n${COMMANDS[command] ?? ""}\n\nFlags (each also read from its environment variable; a flag wins):\n${rows.join("\n")}\n${extra}`;
}
