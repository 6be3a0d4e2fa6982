import { expect, test } from "bun:test";
import { MetricsRegistry } from "../../../src/core/metrics.ts";

test("a counter renders its help, type and one line per label set", () => {
  const registry = new MetricsRegistry();
  const requests = registry.counter("krt_requests_total", "Requests.", ["route", "status"]);
  requests.inc({ route: "/event", status: "202" });
  requests.inc({ route: "/event", status: "202" });
  requests.inc({ route: "other", status: "404" });
  expect(registry.render()).toBe(
    [
      "# HELP krt_requests_total Requests.",
      "# TYPE krt_requests_total counter",
      'krt_requests_total{route="/event",status="202"} 2',
      'krt_requests_total{route="other",status="404"} 1',
      "",
    ].join("\n"),
  );
  expect(requests.get({ route: "/event", status: "202" })).toBe(2);
});

test("a histogram counts each observation into every bucket at or above it", () => {
  const registry = new MetricsRegistry();
  const latency = registry.histogram("krt_seconds", "Latency.", [], [0.1, 1]);
  latency.observe(0.05);
  latency.observe(0.5);
  latency.observe(5);
  const text = registry.render();
  expect(text).toContain('krt_seconds_bucket{le="0.1"} 1');
  expect(text).toContain('krt_seconds_bucket{le="1"} 2');
  expect(text).toContain('krt_seconds_bucket{le="+Inf"} 3');
  expect(text).toContain("krt_seconds_sum 5.55");
  expect(text).toContain("krt_seconds_count 3");
});

test("a gauge keeps the last value set", () => {
  const registry = new MetricsRegistry();
  const connected = registry.gauge("krt_connected", "Connected.");
  connected.set(1);
  connected.set(0);
  expect(registry.render()).toContain("krt_connected 0");
});

test("label values are escaped and unknown label names are refused", () => {
  const registry = new MetricsRegistry();
  const counter = registry.counter("krt_total", "Total.", ["reason"]);
  counter.inc({ reason: 'a"b\\c\nd' });
  expect(registry.render()).toContain('krt_total{reason="a\\"b\\\\c\\nd"} 1');
  expect(() => counter.inc({ other: "x" })).toThrow('unknown label "other"');
});

test("declaring the same metric twice is refused", () => {
  const registry = new MetricsRegistry();
  registry.counter("krt_total", "Total.");
  expect(() => registry.gauge("krt_total", "Again.")).toThrow("declared twice");
});

test("a computed metric renders the samples its callback returns at each render", () => {
  const registry = new MetricsRegistry();
  let depth = 3;
  registry.computed("krt_depth", "Depth.", "gauge", ["group"], () => [
    { labels: { group: "a" }, value: depth },
  ]);
  expect(registry.render()).toContain('krt_depth{group="a"} 3');
  depth = 5;
  expect(registry.render()).toContain('krt_depth{group="a"} 5');
});

test("a computed metric with no samples still renders its help and type", () => {
  const registry = new MetricsRegistry();
  registry.computed("krt_cpu_seconds_total", "CPU.", "counter", [], () => []);
  expect(registry.render()).toBe(
    ["# HELP krt_cpu_seconds_total CPU.", "# TYPE krt_cpu_seconds_total counter", ""].join("\n"),
  );
});

test("a computed metric refuses a label name it did not declare", () => {
  const registry = new MetricsRegistry();
  registry.computed("krt_depth", "Depth.", "gauge", ["group"], () => [{ labels: { stream: "x" }, value: 1 }]);
  expect(() => registry.render()).toThrow('unknown label "stream"');
});

test("an initialised histogram series renders zero counts before any observation", () => {
  const registry = new MetricsRegistry();
  registry.histogram("krt_seconds", "Latency.", ["kind"], [1]).init({ kind: "Deployment" });
  expect(registry.render()).toContain(
    [
      'krt_seconds_bucket{kind="Deployment",le="1"} 0',
      'krt_seconds_bucket{kind="Deployment",le="+Inf"} 0',
      'krt_seconds_sum{kind="Deployment"} 0',
      'krt_seconds_count{kind="Deployment"} 0',
    ].join("\n"),
  );
});

test("infinite and NaN values are written as the text format spells them", () => {
  const registry = new MetricsRegistry();
  const gauge = registry.gauge("krt_value", "Value.", ["v"]);
  gauge.set(Number.POSITIVE_INFINITY, { v: "a" });
  gauge.set(Number.NEGATIVE_INFINITY, { v: "b" });
  gauge.set(Number.NaN, { v: "c" });
  const text = registry.render();
  expect(text).toContain('krt_value{v="a"} +Inf');
  expect(text).toContain('krt_value{v="b"} -Inf');
  expect(text).toContain('krt_value{v="c"} NaN');
});

test("backslashes and line breaks in a help text are escaped", () => {
  const registry = new MetricsRegistry();
  registry.gauge("krt_value", "A \\ and\na break.");
  expect(registry.render()).toContain("# HELP krt_value A \\\\ and\\na break.");
});

test("describe lists every metric with its type, help and label names, in declaration order", () => {
  const registry = new MetricsRegistry();
  registry.counter("krt_total", "Total.", ["reason"]);
  registry.histogram("krt_seconds", "Latency.");
  registry.computed("krt_depth", "Depth.", "gauge", ["group"], () => []);
  expect(registry.describe()).toEqual([
    { name: "krt_total", type: "counter", help: "Total.", labelNames: ["reason"] },
    { name: "krt_seconds", type: "histogram", help: "Latency.", labelNames: [] },
    { name: "krt_depth", type: "gauge", help: "Depth.", labelNames: ["group"] },
  ]);
});
