/** Label values of one series; the label names are fixed when the metric is made. */
export type Labels = Readonly<Record<string, string>>;

interface Series {
  readonly labels: Labels;
  value: number;
}

interface HistogramSeries {
  readonly labels: Labels;
  readonly counts: number[];
  sum: number;
  count: number;
}

const escapeLabelValue = (value: string) =>
  value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');

function renderLabels(labels: Labels, extra: Labels = {}): string {
  const pairs = Object.entries({ ...labels, ...extra }).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return pairs.length > 0 ? `{${pairs.join(",")}}` : "";
}

/** The key of a label set: its values in the order of the label names; an undeclared name throws. */
function seriesKey(names: readonly string[], labels: Labels): string {
  for (const key in labels) {
    if (!names.includes(key)) throw new Error(`unknown label "${key}"`);
  }
  let key = "";
  for (let i = 0; i < names.length; i++) key += (i > 0 ? "\u0000" : "") + (labels[names[i] ?? ""] ?? "");
  return key;
}

/** A monotonically increasing count. */
export interface Counter {
  inc(labels?: Labels, amount?: number): void;
  /** The current value of one series, for tests and log lines. */
  get(labels?: Labels): number;
}

/** A value that goes up and down. */
export interface Gauge {
  set(value: number, labels?: Labels): void;
  get(labels?: Labels): number;
}

/** Observations counted into fixed buckets (seconds, by convention). */
export interface Histogram {
  observe(value: number, labels?: Labels): void;
}

/** Default latency buckets in seconds, from 1 ms to 10 s. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Metric {
  render(): string;
}

/**
 * A small Prometheus registry: metrics are declared once with fixed names and label names, and
 * {@link MetricsRegistry.render} writes the text exposition format.
 */
export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>();

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    const series = new Map<string, Series>();
    const find = (labels: Labels) => {
      const key = seriesKey(labelNames, labels);
      let entry = series.get(key);
      if (!entry) {
        entry = { labels, value: 0 };
        series.set(key, entry);
      }
      return entry;
    };
    this.register(name, help, "counter", () =>
      [...series.values()].map((s) => `${name}${renderLabels(s.labels)} ${s.value}`),
    );
    return {
      inc: (labels = {}, amount = 1) => {
        find(labels).value += amount;
      },
      get: (labels = {}) => series.get(seriesKey(labelNames, labels))?.value ?? 0,
    };
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    const series = new Map<string, Series>();
    this.register(name, help, "gauge", () =>
      [...series.values()].map((s) => `${name}${renderLabels(s.labels)} ${s.value}`),
    );
    return {
      set: (value, labels = {}) => {
        series.set(seriesKey(labelNames, labels), { labels, value });
      },
      get: (labels = {}) => series.get(seriesKey(labelNames, labels))?.value ?? 0,
    };
  }

  histogram(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    buckets = LATENCY_BUCKETS,
  ): Histogram {
    const series = new Map<string, HistogramSeries>();
    const renderOne = (s: HistogramSeries) => [
      ...buckets.map((le, i) => `${name}_bucket${renderLabels(s.labels, { le: String(le) })} ${s.counts[i]}`),
      `${name}_bucket${renderLabels(s.labels, { le: "+Inf" })} ${s.count}`,
      `${name}_sum${renderLabels(s.labels)} ${s.sum}`,
      `${name}_count${renderLabels(s.labels)} ${s.count}`,
    ];
    this.register(name, help, "histogram", () => [...series.values()].flatMap(renderOne));
    return {
      observe: (value, labels = {}) => {
        const key = seriesKey(labelNames, labels);
        let entry = series.get(key);
        if (!entry) {
          entry = { labels, counts: buckets.map(() => 0), sum: 0, count: 0 };
          series.set(key, entry);
        }
        for (let i = 0; i < buckets.length; i++)
          if (value <= (buckets[i] ?? 0)) entry.counts[i] = (entry.counts[i] ?? 0) + 1;
        entry.sum += value;
        entry.count += 1;
      },
    };
  }

  /** The whole registry in the Prometheus text format (version 0.0.4). */
  render(): string {
    return `${[...this.metrics.values()].map((m) => m.render()).join("\n")}\n`;
  }

  private register(name: string, help: string, kind: string, lines: () => string[]): void {
    if (this.metrics.has(name)) throw new Error(`metric ${name} is declared twice`);
    this.metrics.set(name, {
      render: () => [`# HELP ${name} ${help}`, `# TYPE ${name} ${kind}`, ...lines()].join("\n"),
    });
  }
}

/** The Content-Type of {@link MetricsRegistry.render}'s output. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
