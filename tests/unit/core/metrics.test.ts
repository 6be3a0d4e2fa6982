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
