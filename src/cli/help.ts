import type { Mode, Setting, SettingKind } from "../config/settings.ts";

/** One-line summaries of the sub-commands, in the order `--help` lists them. */
export const COMMANDS: Readonly<Record<string, string>> = {
  web: "Accept authenticated events over HTTP and hand them to Valkey.",
  worker: "Consume events from Valkey and restart matching workloads.",
  standalone: "Run web and worker in one process (local use and single-node clusters).",
  healthcheck:
    "Probe the web's (or, with --worker, the worker's) /healthz and exit 0 when it answers 200 (for images without curl).",
  send: "Send an event from a CI step (GitHub Actions OIDC or --token), and with --wait follow its rollouts.",
  "dev-token": "Print a short-lived unsigned token for DEV_MODE testing.",
  "dead-letters":
    "List the events the worker moved to the dead letter stream, and re-drive one or all of them.",
  version: "Print the version.",
};

/**
 * How `--help` says whether a setting is needed: `required`, `required: A or B`, its default (a
 * string default quoted, `default "default"`; a number, duration or boolean bare), or `optional`.
 */
export function requirement(setting: Setting, required: boolean): string {
  if (required) return setting.requiredOr ? `required: ${setting.env} or ${setting.requiredOr}` : "required";
  if (setting.default !== undefined && setting.default !== "")
    return `default ${QUOTED_KINDS.has(setting.kind) ? JSON.stringify(setting.default) : setting.default}`;
  if (setting.derivedDefault !== undefined) return `default ${setting.derivedDefault}`;
  return "optional";
}

/** Kinds whose defaults `--help` quotes, so a word reads as a value: `default "default"`. */
const QUOTED_KINDS: ReadonlySet<SettingKind> = new Set(["string", "choice", "list"]);

/** The top-level usage text. */
export function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, summary]) => `  ${name.padEnd(14)}${summary}`);
  return `Usage: kuberollouttrigger <command> [flags]\n\nCommands:\n${lines.join("\n")}\n\nRun 'kuberollouttrigger <command> --help' for the flags of a command.\n`;
}

/** A flag of a command that is not a setting (`--url`), for its usage text. */
export interface ExtraFlagHelp {
  readonly usage: string;
  readonly description: string;
}

/** What follows the flags on a command line that takes words after them (`dead-letters list`). */
export interface OperandsHelp {
  /** As the usage line shows them, e.g. `list | redrive <dead-id>`. */
  readonly usage: string;
  /** Each form, with what it does. */
  readonly forms: readonly ExtraFlagHelp[];
}

/**
 * The usage text of a command: its operands when it takes some, the settings it reads (flags,
 * variables, defaults, from the settings table), then its own flags. `required` says which settings it
 * cannot run without.
 */
export function commandUsage(
  command: string,
  settings: readonly Setting[],
  required: (setting: Setting) => boolean,
  extra: readonly ExtraFlagHelp[] = [],
  operands?: OperandsHelp,
): string {
  const rows = settings.map((s) => {
    const note = s.modeNotes?.[command as Mode];
    const description = note ? `${s.description} ${note}` : s.description;
    return `  --${s.flag} (${s.env}; ${requirement(s, required(s))})\n      ${description}`;
  });
  const own = extra.map((flag) => `  ${flag.usage}\n      ${flag.description}`);
  const forms = (operands?.forms ?? []).map((form) => `  ${form.usage}\n      ${form.description}`);
  const sections = [
    forms.length > 0 ? `Commands (after the flags):\n${forms.join("\n")}\n` : "",
    rows.length > 0
      ? `Flags (each also read from its environment variable; a flag wins):\n${rows.join("\n")}\n`
      : "",
    own.length > 0 ? `Flags of this command:\n${own.join("\n")}\n` : "",
  ].filter((section) => section !== "");
  const line = `kuberollouttrigger ${command} [flags]${operands ? ` ${operands.usage}` : ""}`;
  return `Usage: ${line}\n\n${COMMANDS[command] ?? ""}\n\n${sections.join("\n")}`;
}
