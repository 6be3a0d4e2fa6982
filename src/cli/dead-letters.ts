import { checkValkeyHost, readValkeyCa } from "../config/check-meaning.ts";
import { loadSettings, replacedBySentinel } from "../config/load-config.ts";
import { SETTINGS, type Setting } from "../config/settings.ts";
import { type Address, formatHostPort } from "../core/address.ts";
import { type DeadLetter, deadLetterKey, readDeadLetter } from "../core/dead-letter.ts";
import { commandUsage, type OperandsHelp } from "./help.ts";
import { type CommandIo, EXIT, helpHint, wantsHelp } from "./io.ts";
import type { DeadLetterStore, DeadLetterTarget, OpenDeadLetterStore } from "./ports.ts";

/**
 * The settings `dead-letters` reads: where Valkey is, how to reach it, which stream, and the groups the
 * web makes (`VALKEY_CONSUMER_GROUP`, `EXPECTED_CLUSTERS`).
 */
const DEAD_LETTER_SETTINGS = SETTINGS.filter((s) =>
  [
    "VALKEY_ADDR",
    "VALKEY_SENTINEL_ADDRS",
    "VALKEY_SENTINEL_MASTER",
    "VALKEY_SENTINEL_USERNAME",
    "VALKEY_SENTINEL_PASSWORD",
    "VALKEY_CHANNEL",
    "VALKEY_USERNAME",
    "VALKEY_PASSWORD",
    "VALKEY_TLS_ENABLED",
    "VALKEY_TLS_CA_FILE",
    "VALKEY_CONSUMER_GROUP",
    "EXPECTED_CLUSTERS",
  ].includes(s.env),
);
const required = (s: Setting, given: ReadonlyMap<string, string>) =>
  s.env === "VALKEY_ADDR" && !replacedBySentinel(s, given);

const OPERANDS: OperandsHelp = {
  usage: "list | redrive <dead-id> | redrive all",
  forms: [
    {
      usage: "list",
      description:
        "Print one line per dead entry, oldest first, tab-separated: its ID, original_id, reason, dead_at, image:tags, request_id, repository.",
    },
    {
      usage: "redrive <dead-id>",
      description:
        "Append the event of that dead entry to the stream again, with redriven_from naming the ID it had, and delete it from the dead letters.",
    },
    { usage: "redrive all", description: "Re-drive every dead entry, oldest first." },
  ],
};

/** What the words after the flags ask for. */
export type DeadLetterCommand =
  | { readonly kind: "list" }
  | { readonly kind: "redrive"; readonly ids: "all" | string }
  | { readonly kind: "refused"; readonly message: string };

const ENTRY_ID = /^\d+-\d+$/;

/** Reads the words after the flags: `list`, `redrive <dead-id>` or `redrive all`. */
export function parseDeadLetterCommand(words: readonly string[]): DeadLetterCommand {
  const [verb, target, ...rest] = words;
  const refuse = (message: string) => ({ kind: "refused", message }) as const;
  if (verb === undefined)
    return refuse("dead-letters needs a command: list, redrive <dead-id> or redrive all");
  if (verb === "list") {
    return target === undefined ? { kind: "list" } : refuse(`list takes no arguments, got "${target}"`);
  }
  if (verb !== "redrive") return refuse(`unknown command "${verb}" (list, redrive)`);
  if (target === undefined) return refuse("redrive needs a dead entry ID or all");
  if (rest.length > 0) return refuse(`unexpected argument "${rest[0]}"`);
  if (target !== "all" && !ENTRY_ID.test(target))
    return refuse(`"${target}" is not a stream entry ID (<ms>-<seq>) or all`);
  return { kind: "redrive", ids: target };
}

/** `text` on one line with no control characters: a value from Valkey must not steer the terminal. */
function printable(text: string | undefined): string {
  if (text === undefined || text === "") return "-";
  return text.replace(/\p{Cc}+/gu, " ");
}

/** `image:tag,tag` of an event, or its raw text (cut short) when it is not one. */
function describeEvent(payload: string | undefined): string {
  if (payload === undefined) return "-";
  try {
    const event = JSON.parse(payload) as { image?: unknown; tags?: unknown };
    const { image, tags } = event;
    if (typeof image === "string" && Array.isArray(tags) && tags.every((t) => typeof t === "string"))
      return `${image}:${tags.join(",")}`;
  } catch {
    // Not JSON: shown as it is, below.
  }
  return JSON.stringify(payload.length > 120 ? `${payload.slice(0, 120)}…` : payload);
}

/** The `list` line of one dead entry: tab-separated, `-` for what it lacks. */
export function formatDeadLetter(dead: DeadLetter): string {
  const envelope = dead.envelope;
  return [
    dead.id,
    dead.originalId,
    dead.reason,
    dead.deadAt,
    describeEvent(envelope?.payload),
    envelope?.requestId,
    envelope?.repository,
  ]
    .map(printable)
    .join("\t");
}

/** The target of the loaded settings, or the line that says why there is none. */
function targetOf(values: Map<string, unknown>): DeadLetterTarget | string {
  const problems = [...checkValkeyHost(values), ...readValkeyCa(values)];
  if (problems.length > 0) return `error: invalid configuration: ${problems.join("; ")}`;
  const get = <T>(env: string) => values.get(env) as T;
  return {
    addr: get<Address | undefined>("VALKEY_ADDR"),
    sentinel: sentinelOf(values),
    username: get<string | undefined>("VALKEY_USERNAME"),
    password: get<string | undefined>("VALKEY_PASSWORD"),
    tls: get<boolean>("VALKEY_TLS_ENABLED") ? { ca: get<string | undefined>("VALKEY_TLS_CA") } : false,
    channel: get<string>("VALKEY_CHANNEL"),
    consumerGroup: get<string>("VALKEY_CONSUMER_GROUP"),
    expectedClusters: [...new Set(get<string[] | undefined>("EXPECTED_CLUSTERS") ?? [])],
  };
}

/** The settings of the sentinels, when VALKEY_SENTINEL_ADDRS names them. */
function sentinelOf(values: Map<string, unknown>): DeadLetterTarget["sentinel"] {
  const addrs = values.get("VALKEY_SENTINEL_ADDRS") as Address[] | undefined;
  if (addrs === undefined) return undefined;
  return {
    addrs,
    master: String(values.get("VALKEY_SENTINEL_MASTER") ?? ""),
    username: values.get("VALKEY_SENTINEL_USERNAME") as string | undefined,
    password: values.get("VALKEY_SENTINEL_PASSWORD") as string | undefined,
  };
}

/** Where the dead letters are, for an error line: the address, or the sentinels' primary. */
function describeTarget(target: DeadLetterTarget): string {
  if (target.addr) return formatHostPort(target.addr.host, target.addr.port);
  const sentinels = (target.sentinel?.addrs ?? []).map((a) => formatHostPort(a.host, a.port)).join(",");
  return `the primary "${target.sentinel?.master ?? ""}" of the sentinels ${sentinels}`;
}

/** Prints every dead entry; 0. */
async function list(store: DeadLetterStore, deadKey: string, io: CommandIo): Promise<number> {
  const entries = await store.list();
  if (entries.length === 0) io.printError(`no dead letters in ${deadKey}`);
  const lines = entries.map((entry) => `${formatDeadLetter(readDeadLetter(entry.id, entry.fields))}\n`);
  io.print(lines.join(""));
  return EXIT.ok;
}

/** Re-drives one dead entry or all of them, a line each; 1 when one named or listed could not be. */
async function redrive(
  store: DeadLetterStore,
  ids: "all" | string,
  deadKey: string,
  io: CommandIo,
): Promise<number> {
  const chosen = ids === "all" ? (await store.list()).map((entry) => entry.id) : [ids];
  if (chosen.length === 0) io.printError(`no dead letters in ${deadKey}`);
  let code: number = EXIT.ok;
  for (const id of chosen) {
    const result = await store.redrive(id);
    if (result.kind === "redriven") {
      io.print(`redriven ${id} as ${result.id} (redriven_from ${result.redrivenFrom})\n`);
    } else if (result.kind === "missing") {
      io.printError(`${ids === "all" ? "warning" : "error"}: no dead letter ${id} in ${deadKey}`);
      if (ids !== "all") code = EXIT.failure;
    } else {
      io.printError(
        `error: dead letter ${id} has no original_id (the worker did not write it); left in place`,
      );
      code = EXIT.failure;
    }
  }
  return code;
}

/**
 * A known flag written after the command word (`list --valkey-addr …`), which Go-style parsing never
 * reads, with the command word it followed.
 */
function lateFlag(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): { readonly flag: string; readonly command: string } | undefined {
  const lenient = loadSettings(DEAD_LETTER_SETTINGS, argv, env, () => false);
  if (!lenient.ok) return undefined;
  const known = (arg: string) =>
    DEAD_LETTER_SETTINGS.some((s) => arg.replace(/^--?/, "").split("=")[0] === s.flag);
  const flag = lenient.positional.find((arg) => arg.startsWith("-") && known(arg));
  return flag === undefined
    ? undefined
    : { flag: flag.split("=")[0] ?? flag, command: lenient.positional[0] ?? "" };
}

/**
 * `kuberollouttrigger dead-letters [flags] list | redrive <dead-id> | redrive all`: reads the Valkey
 * settings, connects through `open`, and lists or re-drives the dead letters of `VALKEY_CHANNEL`. Exits
 * 0 when done, 1 when Valkey fails or an entry could not be re-driven, 2 on a bad command line.
 */
export async function runDeadLetters(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: CommandIo,
  open: OpenDeadLetterStore,
): Promise<number> {
  if (wantsHelp(argv)) {
    const usage = commandUsage(
      "dead-letters",
      DEAD_LETTER_SETTINGS,
      (s) => required(s, new Map()),
      [],
      OPERANDS,
    );
    io.print(usage);
    return EXIT.ok;
  }
  const late = lateFlag(argv, env);
  if (late !== undefined) {
    io.printError(
      `error: ${late.flag} comes after the command; flags go before it: kuberollouttrigger dead-letters ${late.flag} … ${late.command} (${helpHint("dead-letters")})`,
    );
    return EXIT.usage;
  }
  const loaded = loadSettings(DEAD_LETTER_SETTINGS, argv, env, required);
  if (!loaded.ok) {
    io.printError(loaded.badFlags ? `${loaded.message} (${helpHint("dead-letters")})` : loaded.message);
    return EXIT.usage;
  }
  const command = parseDeadLetterCommand(loaded.positional);
  if (command.kind === "refused") {
    io.printError(`error: ${command.message} (${helpHint("dead-letters")})`);
    return EXIT.usage;
  }
  const target = targetOf(loaded.values);
  if (typeof target === "string") {
    io.printError(target);
    return EXIT.usage;
  }
  const deadKey = deadLetterKey(target.channel);
  let store: DeadLetterStore | undefined;
  try {
    store = await open(target);
    if (command.kind === "list") return await list(store, deadKey, io);
    return await redrive(store, command.ids, deadKey, io);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    // Bun's client says only "Connection closed" when nothing listens or the handshake is refused.
    const hint =
      reason === "Connection closed"
        ? " (nothing listening there, or it refused the connection: check VALKEY_ADDR, VALKEY_TLS_ENABLED and the password)"
        : "";
    io.printError(`error: Valkey at ${describeTarget(target)}: ${reason}${hint}`);
    return EXIT.failure;
  } finally {
    store?.close();
  }
}
