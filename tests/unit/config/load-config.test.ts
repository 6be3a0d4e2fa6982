import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { loadConfig } from "../../../src/config/load-config.ts";
import { type PemFiles, writePemFiles } from "../../support/pem-files.ts";
import { makeTlsFixtures, type TlsFixtures } from "../../support/tls-fixtures.ts";

const WEB_ENV = {
  VALKEY_ADDR: "valkey:6379",
  ALLOWED_IMAGE_PREFIX: "ghcr.io/acme",
  GITHUB_OIDC_AUDIENCE: "https://krt.example.com",
  GITHUB_ALLOWED_ORG: "Acme",
};

function expectConfig(result: ReturnType<typeof loadConfig>) {
  if (!result.ok) throw new Error(`expected a config, got: ${result.message}`);
  return result.config;
}

function expectError(result: ReturnType<typeof loadConfig>): string {
  if (result.ok) throw new Error("expected a configuration error");
  return result.message;
}

describe("loading configuration", () => {
  test("every missing required item of the web is named in one line", () => {
    const message = expectError(loadConfig("web", [], {}));
    expect(message.split("\n")).toHaveLength(1);
    expect(message).toStartWith("error: missing required configuration: ");
    for (const item of [
      "VALKEY_ADDR / --valkey-addr",
      "ALLOWED_IMAGE_PREFIX / --allowed-image-prefix",
      "GITHUB_OIDC_AUDIENCE / --github-oidc-audience",
      "GITHUB_ALLOWED_ORG / --github-allowed-org",
    ]) {
      expect(message).toContain(item);
    }
  });

  test("missing and invalid items are reported together", () => {
    const message = expectError(loadConfig("web", ["--valkey-delivery=loud"], { VALKEY_ADDR: "nope" }));
    expect(message).toContain("missing required configuration: ALLOWED_IMAGE_PREFIX");
    expect(message).toContain('VALKEY_DELIVERY / --valkey-delivery: "loud" is not one of stream, pubsub');
    expect(message).toContain('VALKEY_ADDR / --valkey-addr: "nope" is not an address of the form host:port');
  });

  test("LOG_LEVEL reads the spellings operators use, and any other value as info with a warning, as the original did", () => {
    const level = (value: string) => {
      const loaded = loadConfig("worker", [`--log-level=${value}`], {
        VALKEY_ADDR: "v:6379",
        ALLOWED_IMAGE_PREFIX: "ghcr.io/a/",
      });
      if (!loaded.ok) throw new Error(loaded.message);
      return { level: loaded.config.logLevel, warnings: loaded.warnings };
    };
    expect(level("WARNING")).toEqual({ level: "warn", warnings: [] });
    expect(level("err")).toEqual({ level: "error", warnings: [] });
    expect(level("Debug")).toEqual({ level: "debug", warnings: [] });
    expect(level("loud")).toEqual({
      level: "info",
      warnings: [
        'LOG_LEVEL / --log-level: "loud" is not one of debug, info, warn, error (or warning, err, information, trace); using info',
      ],
    });
  });

  test("a kubeconfig that cannot be read stops the start; of several paths, one readable is enough, as for kubectl", () => {
    const worker = (kubeconfig: string) =>
      loadConfig("worker", [], {
        VALKEY_ADDR: "v:6379",
        ALLOWED_IMAGE_PREFIX: "ghcr.io/a/",
        KUBECONFIG: kubeconfig,
      });
    expect(expectError(worker("/nonexistent/a"))).toBe(
      'error: invalid configuration: KUBECONFIG / --kubeconfig: cannot read "/nonexistent/a" (no such file)',
    );
    expect(expectError(worker("/"))).toContain('cannot read "/" (it is a directory)');
    expect(worker(`/nonexistent/a:${import.meta.path}`).ok).toBe(true);
  });

  test("the worker does not require the web's GitHub settings", () => {
    const config = expectConfig(
      loadConfig("worker", [], { VALKEY_ADDR: "v:6379", ALLOWED_IMAGE_PREFIX: "ghcr.io/acme/" }),
    );
    expect(config.valkey.addr).toEqual({ host: "v", port: 6379 });
  });

  test("standalone runs without a Valkey address", () => {
    const config = expectConfig(loadConfig("standalone", [], { ...WEB_ENV, VALKEY_ADDR: undefined }));
    expect(config.valkey.addr).toBeUndefined();
  });

  test("defaults match the settings table", () => {
    const config = expectConfig(loadConfig("web", [], WEB_ENV));
    expect(config.logLevel).toBe("info");
    expect(config.valkey.channel).toBe("kuberollouttrigger");
    expect(config.valkey.delivery).toBe("stream");
    expect(config.valkey.tls).toBe(false);
    expect(config.valkey.streamMaxLen).toBe(100_000);
    expect(config.web.listen).toEqual({ host: "", port: 8080 });
    expect(config.web.issuer).toBe("https://token.actions.githubusercontent.com");
    expect(config.web.jwksUrl).toBe("https://token.actions.githubusercontent.com/.well-known/jwks");
    expect(config.web.devMode).toBe(false);
  });

  test("worker defaults match the settings table", () => {
    const config = expectConfig(loadConfig("worker", [], WEB_ENV));
    expect(config.worker.healthListen).toEqual({ host: "", port: 8081 });
    expect(config.worker.workloadResources).toEqual(["deployments", "statefulsets", "daemonsets"]);
    expect(config.worker.watchNamespaces).toEqual([]);
    expect(config.worker.dryRun).toBe(false);
    expect(config.worker.kubeconfig).toBeUndefined();
    expect(config.valkey.consumerGroup).toBe("kuberollouttrigger");
    expect(config.valkey.claimIdleMs).toBe(30_000);
    expect(config.valkey.groupStaleAfterMs).toBe(86_400_000);
    expect(config.valkey.consumerReapAfterMs).toBe(3_600_000);
    expect(config.valkey.maxDeliveries).toBe(5);
    expect(config.worker.clusterName).toBe("default");
    expect(config.worker.eventStatusTtlMs).toBe(3_600_000);
    expect(config.worker.rolloutWatch).toBe(true);
    expect(config.worker.rolloutTimeoutMs).toBe(600_000);
  });

  test("the event status settings are read, and a cluster name that is not a short token is refused", () => {
    const env = {
      ...WEB_ENV,
      CLUSTER_NAME: "eu-west.1",
      EVENT_STATUS_TTL: "2h",
      ROLLOUT_WATCH: "false",
      ROLLOUT_TIMEOUT: "90s",
    };
    const config = expectConfig(loadConfig("worker", [], env));
    expect(config.worker).toMatchObject({
      clusterName: "eu-west.1",
      eventStatusTtlMs: 7_200_000,
      rolloutWatch: false,
      rolloutTimeoutMs: 90_000,
    });
    expect(expectError(loadConfig("worker", [], { ...WEB_ENV, CLUSTER_NAME: "eu west" }))).toContain(
      "CLUSTER_NAME / --cluster-name",
    );
  });

  test("EXPECTED_CLUSTERS is read as a list without repeats, empty by default, and a name that is not a cluster name is refused", () => {
    expect(expectConfig(loadConfig("web", [], WEB_ENV)).web.expectedClusters).toEqual([]);
    const config = expectConfig(loadConfig("web", [], { ...WEB_ENV, EXPECTED_CLUSTERS: "a, b,a,eu-west.1" }));
    expect(config.web.expectedClusters).toEqual(["a", "b", "eu-west.1"]);
    expect(expectError(loadConfig("web", ["--expected-clusters", "a,b:c"], WEB_ENV))).toContain(
      'EXPECTED_CLUSTERS / --expected-clusters: "b:c" is not a cluster name',
    );
  });

  test("the JWKS URL is derived from a custom issuer", () => {
    const config = expectConfig(
      loadConfig("web", [], { ...WEB_ENV, GITHUB_OIDC_ISSUER: "https://ghe.example.com/_services/token/" }),
    );
    expect(config.web.jwksUrl).toBe("https://ghe.example.com/_services/token/.well-known/jwks");
  });

  test("a flag wins over its variable, which wins over the default", () => {
    const fromEnv = expectConfig(loadConfig("web", [], { ...WEB_ENV, VALKEY_CHANNEL: "from-env" }));
    expect(fromEnv.valkey.channel).toBe("from-env");
    const fromFlag = expectConfig(
      loadConfig("web", ["--valkey-channel", "from-flag"], { ...WEB_ENV, VALKEY_CHANNEL: "from-env" }),
    );
    expect(fromFlag.valkey.channel).toBe("from-flag");
  });

  test("an empty variable counts as unset", () => {
    const config = expectConfig(loadConfig("web", [], { ...WEB_ENV, VALKEY_CHANNEL: "", LOG_LEVEL: "" }));
    expect(config.valkey.channel).toBe("kuberollouttrigger");
    expect(config.logLevel).toBe("info");
    expect(expectError(loadConfig("web", [], { ...WEB_ENV, GITHUB_ALLOWED_ORG: "" }))).toContain(
      "GITHUB_ALLOWED_ORG",
    );
  });

  test("an empty flag value counts as unset, so the variable or the default applies", () => {
    const config = expectConfig(
      loadConfig(
        "web",
        ["--log-level=", "--valkey-channel=", "--valkey-delivery=", "--valkey-stream-maxlen="],
        {
          ...WEB_ENV,
          VALKEY_CHANNEL: "from-env",
        },
      ),
    );
    expect(config.logLevel).toBe("info");
    expect(config.valkey.channel).toBe("from-env");
    expect(config.valkey.delivery).toBe("stream");
    expect(config.valkey.streamMaxLen).toBe(100_000);
  });

  test("an empty boolean flag value is refused, as Go's flag package refuses it", () => {
    expect(expectError(loadConfig("web", ["--dev-mode="], WEB_ENV))).toContain(
      'DEV_MODE / --dev-mode: "" is not a boolean',
    );
  });

  test.each(["token.actions.githubusercontent.com", "http://ghe.example.com/_services/token", "ftp://x"])(
    "the issuer %p is refused: its keys would not be fetched over https",
    (issuer) => {
      expect(expectError(loadConfig("web", [], { ...WEB_ENV, GITHUB_OIDC_ISSUER: issuer }))).toContain(
        "GITHUB_OIDC_ISSUER / --github-oidc-issuer",
      );
    },
  );

  test("a blank audience or org is refused in the one error line", () => {
    const message = expectError(
      loadConfig("web", ["--github-oidc-audience", " ", "--github-allowed-org=  "], WEB_ENV),
    );
    expect(message).toContain("GITHUB_OIDC_AUDIENCE / --github-oidc-audience: must not be blank");
    expect(message).toContain("GITHUB_ALLOWED_ORG / --github-allowed-org: must not be blank");
  });

  test.each([
    [["--github-allowed-org", "Flag"]],
    [["--github-allowed-org=Flag"]],
    [["-github-allowed-org", "Flag"]],
    [["-github-allowed-org=Flag"]],
  ])("the Go flag form %p is accepted", (argv) => {
    expect(expectConfig(loadConfig("web", argv, WEB_ENV)).web.allowedOrg).toBe("Flag");
  });

  test.each([
    [["--dev-mode"], true],
    [["-dev-mode"], true],
    [["--dev-mode=false"], false],
    [["--dev-mode=TRUE"], true],
    [["--dev-mode=0"], false],
    [["--dev-mode=1"], true],
  ])("the boolean flag %p reads as %p", (argv, expected) => {
    expect(expectConfig(loadConfig("web", argv, { ...WEB_ENV, DEV_MODE: "true" })).web.devMode).toBe(
      expected,
    );
  });

  test.each(["yes", "on", "2", "tru"])("the boolean value %p is a configuration error", (value) => {
    expect(expectError(loadConfig("web", [], { ...WEB_ENV, DEV_MODE: value }))).toContain(
      `DEV_MODE / --dev-mode: "${value}" is not a boolean`,
    );
  });

  test("a flag of another mode is refused as Go's flag package would", () => {
    expect(expectError(loadConfig("web", ["--kubeconfig", "/x"], WEB_ENV))).toBe(
      "error: flag provided but not defined: -kubeconfig",
    );
  });

  test("a value flag without its value is refused", () => {
    expect(expectError(loadConfig("web", ["--valkey-channel"], WEB_ENV))).toBe(
      "error: flag needs an argument: -valkey-channel",
    );
  });

  test("arguments after the flags are returned for the command to refuse", () => {
    const result = loadConfig("web", ["--dev-mode", "extra"], WEB_ENV);
    expect(result.ok && result.positional).toEqual(["extra"]);
  });

  test.each([
    [":8080", { host: "", port: 8080 }],
    ["127.0.0.1:0", { host: "127.0.0.1", port: 0 }],
    ["[::1]:9000", { host: "::1", port: 9000 }],
  ])("the listen address %p is read as %p", (addr, expected) => {
    expect(expectConfig(loadConfig("web", [], { ...WEB_ENV, WEB_LISTEN_ADDR: addr })).web.listen).toEqual(
      expected,
    );
  });

  test.each(["8080", "host:99999", "host:", "a b:1"])("the listen address %p is refused", (addr) => {
    expect(expectError(loadConfig("web", [], { ...WEB_ENV, WEB_LISTEN_ADDR: addr }))).toContain(
      "WEB_LISTEN_ADDR / --listen-addr",
    );
  });

  test("a Valkey address without a host is refused", () => {
    expect(expectError(loadConfig("web", [], { ...WEB_ENV, VALKEY_ADDR: ":6379" }))).toContain(
      "a host is required",
    );
  });

  test("a plain-http JWKS URL is refused unless it is on a loopback host", () => {
    expect(
      expectError(
        loadConfig("web", [], { ...WEB_ENV, GITHUB_OIDC_JWKS_URL: "http://keys.example.com/jwks" }),
      ),
    ).toContain("must be an https URL");
    const local = expectConfig(
      loadConfig("web", [], { ...WEB_ENV, GITHUB_OIDC_JWKS_URL: "http://127.0.0.1:9999/jwks" }),
    );
    expect(local.web.jwksUrl).toBe("http://127.0.0.1:9999/jwks");
  });

  test("workload kinds accept kinds, resources and short names in any case", () => {
    const config = expectConfig(
      loadConfig("worker", [], { ...WEB_ENV, WORKLOAD_KINDS: "Deployment, STS,daemonsets.apps,deploy" }),
    );
    expect(config.worker.workloadResources).toEqual(["deployments", "statefulsets", "daemonsets"]);
  });

  test("an unknown workload kind is refused by name", () => {
    expect(
      expectError(loadConfig("worker", [], { ...WEB_ENV, WORKLOAD_KINDS: "deployments,cronjobs" })),
    ).toContain('unknown kind "cronjobs"');
  });

  test("watch namespaces are split, trimmed and checked", () => {
    const config = expectConfig(
      loadConfig("worker", [], { ...WEB_ENV, WATCH_NAMESPACES: "team-a, team-b,,team-a" }),
    );
    expect(config.worker.watchNamespaces).toEqual(["team-a", "team-b"]);
    expect(expectError(loadConfig("worker", [], { ...WEB_ENV, WATCH_NAMESPACES: "Team_A" }))).toContain(
      "is not a namespace name",
    );
  });

  test.each([
    ["500ms", 500],
    ["30s", 30_000],
    ["1m30s", 90_000],
    ["1.5h", 5_400_000],
  ])("the claim idle duration %p is %p ms", (text, ms) => {
    expect(
      expectConfig(loadConfig("worker", [], { ...WEB_ENV, VALKEY_CLAIM_IDLE: text })).valkey.claimIdleMs,
    ).toBe(ms);
  });

  test.each(["30", "0s", "-5s", "5 minutes", "1d"])("the claim idle duration %p is refused", (text) => {
    expect(expectError(loadConfig("worker", [], { ...WEB_ENV, VALKEY_CLAIM_IDLE: text }))).toContain(
      "VALKEY_CLAIM_IDLE",
    );
  });

  test("the stale group and consumer reaping limits are read, as environment variables or flags", () => {
    const env = { ...WEB_ENV, VALKEY_GROUP_STALE_AFTER: "36h", VALKEY_CONSUMER_REAP_AFTER: "15m" };
    const config = expectConfig(loadConfig("worker", [], env));
    expect(config.valkey.groupStaleAfterMs).toBe(129_600_000);
    expect(config.valkey.consumerReapAfterMs).toBe(900_000);
    const flags = ["--valkey-group-stale-after=2h", "--valkey-consumer-reap-after", "90s"];
    const fromFlags = expectConfig(loadConfig("worker", flags, WEB_ENV));
    expect(fromFlags.valkey.groupStaleAfterMs).toBe(7_200_000);
    expect(fromFlags.valkey.consumerReapAfterMs).toBe(90_000);
  });

  test("a stale group limit under 10 minutes is refused: a cluster whose workers restart or are cut off for a while is not gone", () => {
    const error = expectError(loadConfig("worker", [], { ...WEB_ENV, VALKEY_GROUP_STALE_AFTER: "9m59s" }));
    expect(error).toContain("VALKEY_GROUP_STALE_AFTER / --valkey-group-stale-after: at least 10m");
    expect(error).toContain("restarting or briefly cut off from Valkey");
    const config = expectConfig(loadConfig("worker", [], { ...WEB_ENV, VALKEY_GROUP_STALE_AFTER: "10m" }));
    expect(config.valkey.groupStaleAfterMs).toBe(600_000);
  });

  test("a stale group limit of zero or in days is refused with the minimum and the units named", () => {
    const zero = expectError(loadConfig("worker", [], { ...WEB_ENV, VALKEY_GROUP_STALE_AFTER: "0" }));
    expect(zero).toContain('VALKEY_GROUP_STALE_AFTER / --valkey-group-stale-after: "0" must be at least 10m');
    const days = expectError(loadConfig("worker", [], { ...WEB_ENV, VALKEY_GROUP_STALE_AFTER: "1d" }));
    expect(days).toContain(
      '"1d" is not a duration such as 500ms, 30s, 5m or 24h (units ms, s, m, h; there is no d)',
    );
  });

  test("a consumer reap limit under a minute is refused: live workers between reads are not gone", () => {
    for (const text of ["5s", "59s", "--valkey-consumer-reap-after=1s"]) {
      const flagged = text.startsWith("--");
      const error = expectError(
        loadConfig("worker", flagged ? [text] : [], {
          ...WEB_ENV,
          ...(flagged ? {} : { VALKEY_CONSUMER_REAP_AFTER: text }),
        }),
      );
      expect(error).toContain(
        "VALKEY_CONSUMER_REAP_AFTER / --valkey-consumer-reap-after: at least 1m, or live workers briefly between reads would be removed from the group and logged as gone",
      );
    }
    const config = expectConfig(loadConfig("worker", [], { ...WEB_ENV, VALKEY_CONSUMER_REAP_AFTER: "1m" }));
    expect(config.valkey.consumerReapAfterMs).toBe(60_000);
  });

  test("a consumer reap limit under VALKEY_CLAIM_IDLE is refused: a consumer is not gone before its entries are abandoned", () => {
    const env = { ...WEB_ENV, VALKEY_CLAIM_IDLE: "5m", VALKEY_CONSUMER_REAP_AFTER: "2m" };
    expect(expectError(loadConfig("worker", [], env))).toContain(
      "VALKEY_CONSUMER_REAP_AFTER / --valkey-consumer-reap-after: at least VALKEY_CLAIM_IDLE (5m0s)",
    );
    const same = expectConfig(loadConfig("worker", [], { ...env, VALKEY_CONSUMER_REAP_AFTER: "5m" }));
    expect(same.valkey.consumerReapAfterMs).toBe(300_000);
  });

  test("the consumer reap limit's default is raised to a longer VALKEY_CLAIM_IDLE, so such a configuration still starts", () => {
    const config = expectConfig(loadConfig("worker", [], { ...WEB_ENV, VALKEY_CLAIM_IDLE: "90m" }));
    expect(config.valkey.consumerReapAfterMs).toBe(5_400_000);
  });

  test.each(["VALKEY_GROUP_STALE_AFTER", "VALKEY_CONSUMER_REAP_AFTER"])(
    "%p of zero or no duration is refused: a group or consumer would count as gone at once",
    (name) => {
      for (const text of ["0", "0s", "24", "1d"])
        expect(expectError(loadConfig("worker", [], { ...WEB_ENV, [name]: text }))).toContain(name);
    },
  );

  test.each(["0", "-1", "2.5", "ten"])(
    "MAX_DELIVERIES %p is refused: an entry is delivered at least once",
    (text) => {
      expect(expectError(loadConfig("worker", [], { ...WEB_ENV, MAX_DELIVERIES: text }))).toContain(
        "MAX_DELIVERIES",
      );
    },
  );

  test.each(["0", "-1", "2.5", "ten"])(
    "WORKER_CONCURRENCY %p is refused: a worker handles at least one event at a time",
    (text) => {
      expect(expectError(loadConfig("worker", [], { ...WEB_ENV, WORKER_CONCURRENCY: text }))).toContain(
        "WORKER_CONCURRENCY",
      );
    },
  );

  test("WORKER_CONCURRENCY is 16 unless set, and is read from its flag too", () => {
    expect(expectConfig(loadConfig("worker", [], WEB_ENV)).worker.concurrency).toBe(16);
    const flagged = expectConfig(loadConfig("standalone", ["--worker-concurrency", "3"], WEB_ENV));
    expect(flagged.worker.concurrency).toBe(3);
  });

  test("MAX_DELIVERIES is read from its flag too", () => {
    expect(expectConfig(loadConfig("worker", ["--max-deliveries", "2"], WEB_ENV)).valkey.maxDeliveries).toBe(
      2,
    );
  });

  test.each(["0", "-1", "1e5", "ten"])("the stream cap %p is refused", (text) => {
    expect(expectError(loadConfig("web", [], { ...WEB_ENV, VALKEY_STREAM_MAXLEN: text }))).toContain(
      "VALKEY_STREAM_MAXLEN",
    );
  });

  test("an image prefix with capitals or spaces is refused", () => {
    expect(
      expectError(loadConfig("web", [], { ...WEB_ENV, ALLOWED_IMAGE_PREFIX: "ghcr.io/Acme" })),
    ).toContain("ALLOWED_IMAGE_PREFIX");
  });

  test("each worker gets a unique consumer name by default", () => {
    const first = expectConfig(loadConfig("worker", [], WEB_ENV)).valkey.consumerName;
    const second = expectConfig(loadConfig("worker", [], WEB_ENV)).valkey.consumerName;
    expect(first).not.toBe(second);
  });

  test("the loaded configuration cannot be changed", () => {
    const config = expectConfig(loadConfig("web", [], WEB_ENV));
    expect(() => {
      (config.valkey as { channel: string }).channel = "changed";
    }).toThrow();
  });
});

describe("VALKEY_TLS_ENABLED and VALKEY_TLS_CA_FILE", () => {
  let fixtures: TlsFixtures;
  let pems: PemFiles;

  beforeAll(async () => {
    fixtures = await makeTlsFixtures();
    pems = await writePemFiles({
      ca: fixtures.ca,
      bundle: `${fixtures.ca}\n${fixtures.otherCa}`,
      key: fixtures.serverKey,
    });
  });
  afterAll(() => pems[Symbol.asyncDispose]());

  const path = (name: string) => pems.paths[name] ?? "";

  test("TLS is off by default, and the Valkey TLS setting is then false", () => {
    const loaded = loadConfig("web", [], WEB_ENV);
    expect(loaded.ok && loaded.config.valkey.tls).toBe(false);
  });

  test("TLS without a CA file verifies against the system trust store (no CA of our own)", () => {
    const loaded = loadConfig("worker", ["--valkey-tls"], WEB_ENV);
    expect(loaded.ok && loaded.config.valkey.tls).toEqual({ caFile: undefined, ca: undefined });
  });

  test("the CA file is read at startup into the configuration, from the variable or the flag", () => {
    for (const loaded of [
      loadConfig("web", [], { ...WEB_ENV, VALKEY_TLS_ENABLED: "true", VALKEY_TLS_CA_FILE: path("ca") }),
      loadConfig("standalone", ["--valkey-tls", "--valkey-tls-ca-file", path("ca")], WEB_ENV),
    ]) {
      expect(loaded.ok && loaded.config.valkey.tls).toEqual({ caFile: path("ca"), ca: fixtures.ca });
    }
  });

  test("a bundle of several CA certificates is accepted whole", () => {
    const loaded = loadConfig("web", ["--valkey-tls", `--valkey-tls-ca-file=${path("bundle")}`], WEB_ENV);
    const tls = loaded.ok ? loaded.config.valkey.tls : false;
    expect(tls === false ? "" : tls.ca).toContain(fixtures.otherCa);
  });

  test("a CA file without TLS enabled is an error rather than a silently plain connection", () => {
    const message = expectError(loadConfig("web", [], { ...WEB_ENV, VALKEY_TLS_CA_FILE: path("ca") }));
    expect(message).toContain("VALKEY_TLS_CA_FILE / --valkey-tls-ca-file: needs VALKEY_TLS_ENABLED=true");
  });

  test("a CA file that cannot be read is named with the setting", () => {
    const missing = `${pems.dir}/missing.pem`;
    const message = expectError(
      loadConfig("web", ["--valkey-tls", "--valkey-tls-ca-file", missing], WEB_ENV),
    );
    expect(message).toContain(`VALKEY_TLS_CA_FILE / --valkey-tls-ca-file: cannot read "${missing}"`);
  });

  test("a file with no PEM certificate in it, such as a key, is refused without echoing its content", () => {
    const message = expectError(
      loadConfig("web", ["--valkey-tls", "--valkey-tls-ca-file", path("key")], WEB_ENV),
    );
    expect(message).toContain(`"${path("key")}" holds no PEM certificate`);
    expect(message).not.toContain("PRIVATE KEY");
  });
});

describe("Valkey through Sentinel", () => {
  const SENTINEL_ENV = {
    ...WEB_ENV,
    VALKEY_ADDR: undefined,
    VALKEY_SENTINEL_ADDRS: "s1:26379, [::1]:26380",
    VALKEY_SENTINEL_MASTER: "primary",
  };

  test("VALKEY_SENTINEL_ADDRS replaces VALKEY_ADDR, with the sentinels' own credentials", () => {
    const config = expectConfig(
      loadConfig("web", [], {
        ...SENTINEL_ENV,
        VALKEY_SENTINEL_USERNAME: "watcher",
        VALKEY_SENTINEL_PASSWORD: "s3cret",
      }),
    );
    expect(config.valkey.addr).toBeUndefined();
    expect(config.valkey.sentinel).toEqual({
      addrs: [
        { host: "s1", port: 26379 },
        { host: "::1", port: 26380 },
      ],
      master: "primary",
      username: "watcher",
      password: "s3cret",
    });
  });

  test("a worker reads the sentinels too, and without either setting the error asks for VALKEY_ADDR or VALKEY_SENTINEL_ADDRS", () => {
    const worker = { ...SENTINEL_ENV, ALLOWED_IMAGE_PREFIX: "ghcr.io/acme/" };
    expect(expectConfig(loadConfig("worker", [], worker)).valkey.sentinel?.master).toBe("primary");
    const message = expectError(loadConfig("worker", [], { ALLOWED_IMAGE_PREFIX: "ghcr.io/acme/" }));
    expect(message).toBe(
      "error: missing required configuration: VALKEY_ADDR / --valkey-addr or VALKEY_SENTINEL_ADDRS / --valkey-sentinel-addrs",
    );
  });

  test("with only VALKEY_SENTINEL_MASTER set, the error names Sentinel's addresses as the alternative", () => {
    const message = expectError(
      loadConfig("worker", [], { ALLOWED_IMAGE_PREFIX: "ghcr.io/acme/", VALKEY_SENTINEL_MASTER: "primary" }),
    );
    expect(message).toContain(
      "VALKEY_ADDR / --valkey-addr or VALKEY_SENTINEL_ADDRS / --valkey-sentinel-addrs",
    );
  });

  test("VALKEY_ADDR and VALKEY_SENTINEL_ADDRS together stop the start", () => {
    expect(expectError(loadConfig("web", [], { ...SENTINEL_ENV, VALKEY_ADDR: "valkey:6379" }))).toContain(
      "VALKEY_ADDR / --valkey-addr and VALKEY_SENTINEL_ADDRS / --valkey-sentinel-addrs: give one of the two, not both",
    );
  });

  test("the sentinels need the master name they monitor, and every address a host", () => {
    const message = expectError(
      loadConfig("web", [], {
        ...SENTINEL_ENV,
        VALKEY_SENTINEL_MASTER: undefined,
        VALKEY_SENTINEL_ADDRS: ":26379",
      }),
    );
    expect(message).toContain(
      "VALKEY_SENTINEL_MASTER / --valkey-sentinel-master: required with VALKEY_SENTINEL_ADDRS",
    );
    expect(message).toContain("VALKEY_SENTINEL_ADDRS / --valkey-sentinel-addrs: a host is required");
    expect(expectError(loadConfig("web", [], { ...SENTINEL_ENV, VALKEY_SENTINEL_ADDRS: "s1" }))).toContain(
      'VALKEY_SENTINEL_ADDRS / --valkey-sentinel-addrs: "s1" is not an address of the form host:port',
    );
  });

  test("VALKEY_MIN_REPLICAS_ACK is 0 unless given, and a whole number", () => {
    expect(expectConfig(loadConfig("web", [], WEB_ENV)).valkey.minReplicasAck).toBe(0);
    const config = expectConfig(loadConfig("web", ["--valkey-min-replicas-ack=2"], WEB_ENV));
    expect(config.valkey.minReplicasAck).toBe(2);
    expect(expectError(loadConfig("web", [], { ...WEB_ENV, VALKEY_MIN_REPLICAS_ACK: "-1" }))).toContain(
      'VALKEY_MIN_REPLICAS_ACK / --valkey-min-replicas-ack: "-1" is not a whole number, 0 or more',
    );
  });
});
