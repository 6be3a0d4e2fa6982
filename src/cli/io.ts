/** Where a command writes: its output, and its errors (each a line). */
export interface CommandIo {
  readonly print: (text: string) => void;
  readonly printError: (line: string) => void;
}

/** Exit codes: 0 clean shutdown or success, 1 runtime failure, 2 usage or configuration error. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** Whether `text` is an http or https URL (for `--url` flags). */
export const isHttpUrl = (text: string): boolean =>
  URL.canParse(text) && /^https?:$/.test(new URL(text).protocol);

/** Whether a command line asks for help (`--help`, `-h`, `-help`). */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.some((arg) => /^--?(help|h)$/.test(arg));
}

/** The hint that follows a command-line mistake. */
export const helpHint = (command: string): string =>
  `run 'kuberollouttrigger ${command} --help' for its flags`;

/** What a command line came to: refused, or read with its arguments after the flags. */
type CommandLine =
  | { readonly ok: false; readonly message: string; readonly badFlags: boolean }
  | { readonly ok: true; readonly positional: readonly string[] };

/**
 * Says on standard error why a command line is refused: an invalid setting or flag (pointing at
 * `--help` for a flag), or an argument the command does not take. Returns whether it refused.
 */
export function refuseCommandLine(loaded: CommandLine, command: string, io: CommandIo): boolean {
  if (!loaded.ok) {
    io.printError(loaded.badFlags ? `${loaded.message} (${helpHint(command)})` : loaded.message);
    return true;
  }
  if (loaded.positional.length === 0) return false;
  io.printError(`error: unexpected argument "${loaded.positional[0]}" (${helpHint(command)})`);
  return true;
}
