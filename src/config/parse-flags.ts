/** The outcome of reading a command line the way Go's `flag` package does. */
export interface ParsedFlags {
  readonly values: ReadonlyMap<string, string>;
  readonly positional: readonly string[];
  readonly errors: readonly string[];
}

/**
 * Reads `--name value`, `--name=value`, `-name value` and `-name=value`; booleans also bare
 * (`--dev-mode`) or with `=value`. Parsing stops at `--` or at the first argument that is not a flag,
 * as in Go. `booleanFlags` and `valueFlags` name the flags this command accepts.
 */
export function parseFlags(
  argv: readonly string[],
  booleanFlags: ReadonlySet<string>,
  valueFlags: ReadonlySet<string>,
): ParsedFlags {
  const values = new Map<string, string>();
  const errors: string[] = [];
  let index = 0;
  while (index < argv.length) {
    const arg = argv[index] ?? "";
    if (arg === "--") {
      index += 1;
      break;
    }
    if (!arg.startsWith("-") || arg === "-") break;
    const body = arg.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq === -1 ? body : body.slice(0, eq);
    const inline = eq === -1 ? undefined : body.slice(eq + 1);
    index += 1;
    if (booleanFlags.has(name)) {
      values.set(name, inline ?? "true");
    } else if (valueFlags.has(name)) {
      if (inline !== undefined) values.set(name, inline);
      else if (index < argv.length) values.set(name, argv[index++] ?? "");
      else errors.push(`flag needs an argument: -${name}`);
    } else {
      errors.push(`flag provided but not defined: -${name}`);
    }
  }
  return { values, positional: argv.slice(index), errors };
}
