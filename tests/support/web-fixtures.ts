import type { Config } from "../../src/config/config.ts";
import { loadConfig } from "../../src/config/load-config.ts";
import type { EventEnvelope } from "../../src/core/envelope.ts";
import { createLogger, type Logger } from "../../src/log.ts";
import { type EventPublisher, PublishFailedError } from "../../src/web/ports.ts";
import { TEST_AUDIENCE, TEST_ISSUER, TEST_ORG } from "./tokens.ts";

/** The image prefix every web test configures. */
export const TEST_PREFIX = "ghcr.io/acme";

/** A valid event body under {@link TEST_PREFIX}. */
export const VALID_EVENT = { image: "ghcr.io/acme/app", tags: ["v1.0.0", "latest"] };

/** The environment of a web process in tests: loopback, port 0, test issuer/audience/org. */
export function webEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    VALKEY_ADDR: "127.0.0.1:1",
    ALLOWED_IMAGE_PREFIX: TEST_PREFIX,
    WEB_LISTEN_ADDR: "127.0.0.1:0",
    GITHUB_OIDC_AUDIENCE: TEST_AUDIENCE,
    GITHUB_ALLOWED_ORG: TEST_ORG,
    GITHUB_OIDC_ISSUER: TEST_ISSUER,
    GITHUB_OIDC_JWKS_URL: "http://127.0.0.1:1/.well-known/jwks",
    ...overrides,
  };
}

/** A web Config loaded through the real loader from {@link webEnv}. */
export function webConfig(overrides: Record<string, string> = {}): Config {
  const loaded = loadConfig("web", [], webEnv(overrides));
  if (!loaded.ok) throw new Error(loaded.message);
  return loaded.config;
}

/** A logger whose lines are kept, parsed, for assertions. */
export interface CapturedLog {
  readonly log: Logger;
  readonly lines: Record<string, unknown>[];
  /** The lines whose `msg` is `msg`. */
  withMsg(msg: string): Record<string, unknown>[];
  /** Every line as written, joined: to check that something never appears. */
  text(): string;
}

/** Creates a debug-level logger that keeps its lines. */
export function captureLog(): CapturedLog {
  const raw: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    level: "debug",
    write: (line) => {
      raw.push(line);
      lines.push(JSON.parse(line));
    },
  });
  return { log, lines, withMsg: (msg) => lines.filter((l) => l.msg === msg), text: () => raw.join("\n") };
}

/** An in-memory publisher: keeps what it takes; `failWith` makes it refuse, `ready` sets readiness. */
export interface MemoryPublisher extends EventPublisher {
  readonly published: EventEnvelope[];
  failWith: Error | undefined;
  isReady: boolean;
  /** When set, publish waits for it before taking the event. */
  gate: Promise<void> | undefined;
  /** How many publish calls have started. */
  readonly started: number;
}

/** Creates a {@link MemoryPublisher}, ready and accepting. */
export function memoryPublisher(): MemoryPublisher {
  const publisher: MemoryPublisher = {
    published: [],
    failWith: undefined,
    isReady: true,
    gate: undefined,
    started: 0,
    async publish(envelope) {
      (publisher as { started: number }).started += 1;
      if (publisher.gate) await publisher.gate;
      if (publisher.failWith) throw publisher.failWith;
      publisher.published.push(envelope);
      return { kind: "accepted", eventId: `1700000000000-${publisher.published.length - 1}` };
    },
    ready: () => publisher.isReady,
    close: async () => {},
  };
  return publisher;
}

/** A publish failure as the Valkey publisher raises it. */
export const publishFailure = () => new PublishFailedError("Valkey did not take the event: test");
