import { describe, expect, test } from "bun:test";
import { formatDeadLetter, parseDeadLetterCommand, runDeadLetters } from "../../../src/cli/dead-letters.ts";
import type { DeadLetterStore, DeadLetterTarget, StoredDeadLetter } from "../../../src/cli/ports.ts";
import { deadLetterFields, readDeadLetter, redriveFields } from "../../../src/core/dead-letter.ts";

const EVENT = '{"image":"ghcr.io/acme/app","tags":["dev","latest"]}';
const entry = (id: string, originalId: string, extra: string[] = []): StoredDeadLetter => ({
  id,
  fields: deadLetterFields(["event", EVENT, "request_id", `req-${id}`, "repository", "acme/app", ...extra], {
    reason: "poison: Error: boom",
    originalId,
    deadAt: "2025-01-01T00:01:00.000Z",
  }),
});

/** A store over an array, recording what was re-driven; `failing` makes every call reject. */
function fakeStore(entries: StoredDeadLetter[], failing: boolean | string = false) {
  const redriven: { id: string; fields: readonly string[] }[] = [];
  let closed = false;
  const store: DeadLetterStore = {
    async list() {
      if (typeof failing === "string") throw new Error(failing);
      if (failing) throw new Error("Valkey did not answer XRANGE within 5000 ms");
      return [...entries];
    },
    async redrive(id) {
      const at = entries.findIndex((e) => e.id === id);
      const found = entries[at];
      if (found === undefined) return { kind: "missing" };
      const fields = redriveFields(found.fields);
      if (fields === undefined) return { kind: "foreign" };
      entries.splice(at, 1);
      redriven.push({ id, fields });
      return { kind: "redriven", id: `9${redriven.length}-0`, redrivenFrom: fields.at(-1) ?? "" };
    },
    close() {
      closed = true;
    },
  };
  return { store, redriven, closed: () => closed };
}

async function run(argv: string[], store: DeadLetterStore, env: Record<string, string> = {}) {
  let stdout = "";
  const stderr: string[] = [];
  const targets: DeadLetterTarget[] = [];
  const code = await runDeadLetters(
    argv,
    { VALKEY_ADDR: "127.0.0.1:6379", ...env },
    { print: (text) => (stdout += text), printError: (line) => stderr.push(line) },
    async (target) => {
      targets.push(target);
      return store;
    },
  );
  return { code, stdout, stderr, targets };
}

describe("the words after dead-letters' flags", () => {
  test("are list, redrive with a stream entry ID, or redrive all", () => {
    expect(parseDeadLetterCommand(["list"])).toEqual({ kind: "list" });
    expect(parseDeadLetterCommand(["redrive", "1735689600000-0"])).toEqual({
      kind: "redrive",
      ids: "1735689600000-0",
    });
    expect(parseDeadLetterCommand(["redrive", "all"])).toEqual({ kind: "redrive", ids: "all" });
  });

  test("anything else is refused with what is missing or wrong", () => {
    const refused = (words: string[]) => {
      const command = parseDeadLetterCommand(words);
      return command.kind === "refused" ? command.message : "accepted";
    };
    expect(refused([])).toContain("needs a command");
    expect(refused(["show"])).toBe('unknown command "show" (list, redrive)');
    expect(refused(["list", "all"])).toBe('list takes no arguments, got "all"');
    expect(refused(["redrive"])).toBe("redrive needs a dead entry ID or all");
    expect(refused(["redrive", "12"])).toContain("is not a stream entry ID");
    expect(refused(["redrive", "1-0", "2-0"])).toBe('unexpected argument "2-0"');
  });
});

describe("a line of dead-letters list", () => {
  test("holds the ID, original ID, reason, time, image:tags, request id and repository, tab-separated", () => {
    const { id, fields } = entry("7-0", "5-0");
    expect(formatDeadLetter(readDeadLetter(id, fields))).toBe(
      [
        "7-0",
        "5-0",
        "poison: Error: boom",
        "2025-01-01T00:01:00.000Z",
        "ghcr.io/acme/app:dev,latest",
        "req-7-0",
        "acme/app",
      ].join("\t"),
    );
  });

  test("shows an event that is not one as its raw text, and never a control character from Valkey", () => {
    const fields = ["event", "not\u001b[2Jjson\ttab", "reason", "invalid: bad\nline"];
    expect(formatDeadLetter(readDeadLetter("7-0", fields))).toBe(
      ["7-0", "-", "invalid: bad line", "-", '"not\\u001b[2Jjson\\ttab"', "-", "-"].join("\t"),
    );
  });
});

describe("kuberollouttrigger dead-letters", () => {
  test("list prints one line per dead entry, oldest first, and closes the connection", async () => {
    const fake = fakeStore([entry("7-0", "5-0"), entry("8-0", "6-0")]);
    const result = await run(["list"], fake.store);
    expect(result.code).toBe(0);
    expect(result.stdout.split("\n")).toEqual([
      expect.stringMatching(/^7-0\t5-0\t/),
      expect.stringMatching(/^8-0\t6-0\t/),
      "",
    ]);
    expect(fake.closed()).toBe(true);
  });

  test("reads the Valkey settings, flags first, into the target it connects to", async () => {
    const result = await run(
      ["--valkey-channel", "events", "--valkey-consumer-group", "workers", "list"],
      fakeStore([]).store,
      { VALKEY_USERNAME: "ops", VALKEY_PASSWORD: "secret", EXPECTED_CLUSTERS: "dev,prod,dev" },
    );
    expect(result.targets).toEqual([
      {
        addr: { host: "127.0.0.1", port: 6379 },
        sentinel: undefined,
        username: "ops",
        password: "secret",
        tls: false,
        channel: "events",
        consumerGroup: "workers",
        expectedClusters: ["dev", "prod"],
      },
    ]);
    expect(result.stderr).toEqual(["no dead letters in {events}:dead"]);
  });

  test("redrive re-drives the one entry named and says as what", async () => {
    const fake = fakeStore([entry("7-0", "5-0"), entry("8-0", "6-0")]);
    const result = await run(["redrive", "8-0"], fake.store);
    expect(result).toMatchObject({ code: 0, stdout: "redriven 8-0 as 91-0 (redriven_from 6-0)\n" });
    expect(fake.redriven.map((r) => r.id)).toEqual(["8-0"]);
  });

  test("redrive all re-drives every entry, oldest first", async () => {
    const fake = fakeStore([entry("7-0", "5-0"), entry("8-0", "6-0")]);
    const result = await run(["redrive", "all"], fake.store);
    expect(result.code).toBe(0);
    expect(fake.redriven.map((r) => r.id)).toEqual(["7-0", "8-0"]);
  });

  test("redrive of an ID that is not there, or of an entry the worker did not write, exits 1", async () => {
    const missing = await run(["redrive", "1-0"], fakeStore([]).store);
    expect(missing).toMatchObject({
      code: 1,
      stderr: ["error: no dead letter 1-0 in {kuberollouttrigger}:dead"],
    });
    const foreign = await run(["redrive", "all"], fakeStore([{ id: "3-0", fields: ["event", "{}"] }]).store);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr[0]).toContain("has no original_id");
  });

  test("a Valkey that fails exits 1 and says which Valkey and why", async () => {
    const result = await run(["list"], fakeStore([], true).store);
    expect(result).toMatchObject({
      code: 1,
      stderr: ["error: Valkey at 127.0.0.1:6379: Valkey did not answer XRANGE within 5000 ms"],
    });
  });

  test("a flag after the command is named, with where it belongs, before any connection", async () => {
    const result = await run(["list", "--valkey-addr", "127.0.0.1:7000"], fakeStore([]).store, {
      VALKEY_ADDR: "",
    });
    expect(result).toMatchObject({ code: 2, targets: [] });
    expect(result.stderr[0]).toStartWith("error: --valkey-addr comes after the command; flags go before it");
    const redrive = await run(["redrive", "all", "--valkey-channel=x"], fakeStore([]).store);
    expect(redrive.stderr[0]).toContain("dead-letters --valkey-channel … redrive");
    // A flag that does not exist is not advised to move.
    const unknown = await run(["list", "--nonsense"], fakeStore([]).store);
    expect(unknown).toMatchObject({ code: 2, targets: [] });
    expect(unknown.stderr[0]).not.toContain("comes after the command");
  });

  test("Bun's bare 'Connection closed' comes with what to check", async () => {
    const result = await run(["list"], fakeStore([], "Connection closed").store);
    expect(result.code).toBe(1);
    expect(result.stderr[0]).toStartWith(
      "error: Valkey at 127.0.0.1:6379: Connection closed (nothing listening there",
    );
  });

  test("a bad command line exits 2 before connecting", async () => {
    for (const [argv, env] of [
      [["show"], {}],
      [["--bogus", "list"], {}],
      [["list"], { VALKEY_ADDR: "" }],
      [["list"], { VALKEY_TLS_CA_FILE: "/nonexistent/ca.crt" }],
    ] as const) {
      const result = await run([...argv], fakeStore([]).store, env);
      expect({ argv, code: result.code, targets: result.targets }).toEqual({ argv, code: 2, targets: [] });
    }
  });

  test("reads the sentinels instead of VALKEY_ADDR, and names them when Valkey cannot be reached", async () => {
    const env = {
      VALKEY_ADDR: "",
      VALKEY_SENTINEL_ADDRS: "10.0.0.1:26379,10.0.0.2:26379",
      VALKEY_SENTINEL_MASTER: "primary",
      VALKEY_SENTINEL_PASSWORD: "s3cret",
    };
    const result = await run(["list"], fakeStore([]).store, env);
    expect(result.code).toBe(0);
    expect(result.targets[0]?.addr).toBeUndefined();
    expect(result.targets[0]?.sentinel).toEqual({
      addrs: [
        { host: "10.0.0.1", port: 26379 },
        { host: "10.0.0.2", port: 26379 },
      ],
      master: "primary",
      username: undefined,
      password: "s3cret",
    });
    const stderr: string[] = [];
    const code = await runDeadLetters(
      ["list"],
      env,
      { print: () => {}, printError: (l) => stderr.push(l) },
      () => Promise.reject(new Error("no sentinel named the primary")),
    );
    expect(code).toBe(1);
    expect(stderr).toEqual([
      'error: Valkey at the primary "primary" of the sentinels 10.0.0.1:26379,10.0.0.2:26379: no sentinel named the primary',
    ]);
  });

  test("--help lists the Valkey settings it reads, and EXPECTED_CLUSTERS, and nothing else", async () => {
    const { code, stdout } = await run(["--help"], fakeStore([]).store);
    expect(code).toBe(0);
    expect(stdout).toStartWith(
      "Usage: kuberollouttrigger dead-letters [flags] list | redrive <dead-id> | redrive all\n",
    );
    const flags = [...stdout.matchAll(/^ {2}--([a-z-]+) \(/gm)].map((m) => m[1]);
    expect(flags).toEqual([
      "valkey-addr",
      "valkey-channel",
      "valkey-username",
      "valkey-password",
      "valkey-tls",
      "valkey-tls-ca-file",
      "valkey-sentinel-addrs",
      "valkey-sentinel-master",
      "valkey-sentinel-username",
      "valkey-sentinel-password",
      "valkey-consumer-group",
      "expected-clusters",
    ]);
  });
});
