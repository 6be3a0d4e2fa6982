/** Where a command writes: its output, and its errors (each a line). */
export interface CommandIo {
  readonly print: (text: string) => void;
  readonly printError: (line: string) => void;
}

/** Exit codes: 0 clean shutdown or success, 1 runtime failure, 2 usage or configuration error. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** Whether a command line asks for help (`--help`, `-h`, `-help`). */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.some((arg) => /^--?(help|h)$/.test(arg));
}

/** The hint that follows a command-line mistake. */
export const helpHint = (command: string): string =>
  `run 'kuberollouttrigger ${command} --help' for its flags`;
