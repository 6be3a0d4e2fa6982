/** Log levels, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Fields of a log line: flat, JSON-serialisable values. */
export type LogFields = Readonly<Record<string, unknown>>;

/** A logger that writes one JSON line per call: `time`, `level`, `msg`, then the fields. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  with(fields: LogFields): Logger;
}

const RANK: Readonly<Record<LogLevel, number>> = { debug: 0, info: 1, warn: 2, error: 3 };
const LEVEL_NAME: Readonly<Record<LogLevel, string>> = {
  debug: "DEBUG",
  info: "INFO",
  warn: "WARN",
  error: "ERROR",
};

/** Options of {@link createLogger}; the sink and clock are parameters so tests can read the lines. */
export interface LoggerOptions {
  readonly level?: LogLevel;
  readonly write?: (line: string) => void;
  readonly now?: () => Date;
}

function errorFields(value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return code === undefined ? value.message : `${value.message} (${String(code)})`;
  }
  return value;
}

/**
 * A line sink for the process's logger: lines are written to stdout at the end of the current turn of
 * the event loop, joined with the other lines of that turn (one write instead of one per request under
 * load); lines still pending are written when the process exits.
 */
export function createBufferedStdout(): (line: string) => void {
  let pending = "";
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const out = pending;
    pending = "";
    if (out !== "") process.stdout.write(out);
  };
  process.on("exit", flush);
  return (line) => {
    pending += `${line}\n`;
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  };
}

const writeLineToStdout = (line: string) => process.stdout.write(`${line}\n`);

/** Creates a JSON-lines logger in the shape of Go's slog JSON handler, as the original wrote. */
export function createLogger(options: LoggerOptions = {}, bound: LogFields = {}): Logger {
  const threshold = RANK[options.level ?? "info"];
  const write = options.write ?? writeLineToStdout;
  const now = options.now ?? (() => new Date());
  const emit =
    (level: LogLevel) =>
    (msg: string, fields: LogFields = {}) => {
      if (RANK[level] < threshold) return;
      const line: Record<string, unknown> = {
        time: now().toISOString(),
        level: LEVEL_NAME[level],
        msg,
        ...bound,
      };
      for (const key in fields) line[key] = errorFields(fields[key]);
      write(JSON.stringify(line));
    };
  return {
    debug: emit("debug"),
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
    with: (fields) => createLogger(options, { ...bound, ...fields }),
  };
}
