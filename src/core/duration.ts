const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;

/**
 * Parses a Go-style duration (`500ms`, `30s`, `1m30s`, `1.5h`) into milliseconds.
 * Returns undefined for anything Go's `time.ParseDuration` would reject, and for negative values.
 */
export function parseDuration(text: string): number | undefined {
  if (text === "0") return 0;
  let rest = text.startsWith("+") ? text.slice(1) : text;
  if (rest === "") return undefined;
  let total = 0;
  while (rest !== "") {
    PART.lastIndex = 0;
    const match = PART.exec(rest);
    if (!match) return undefined;
    const [whole, amount = "", unit = ""] = match;
    total += Number(amount) * (UNIT_MS[unit] ?? Number.NaN);
    rest = rest.slice(whole.length);
  }
  return Number.isFinite(total) ? total : undefined;
}

/**
 * Parses a timeout as CI inputs give it: whole seconds (`600`) or a Go-style duration (`10m`), into
 * milliseconds; undefined for anything else.
 */
export function parseSecondsOrDuration(text: string): number | undefined {
  return /^\d+$/.test(text) ? Number(text) * 1000 : parseDuration(text);
}

/** Formats milliseconds the way Go prints a duration, for log lines and the configuration summary. */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms < 1000) return `${ms}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = (ms % 60_000) / 1000;
  return `${hours ? `${hours}h` : ""}${hours || minutes ? `${minutes}m` : ""}${seconds}s`;
}
