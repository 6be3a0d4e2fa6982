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

const escapeHelp = (help: string) => help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

/** A sample value as the text format writes it: `NaN`, `+Inf` and `-Inf` for the special values. */
function formatValue(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

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
  /** Makes the series of `labels` exist with no observations, so that it is exported from the start. */
  init(labels?: Labels): void;
}

/** One sample of a {@link MetricsRegistry.computed} metric. */
export interface Sample {
  readonly labels?: Labels;
  readonly value: number;
}

/** The type of a metric, as its `# TYPE` line says. */
export type MetricType = "counter" | "gauge" | "histogram";

/** What a metric is, as declared: for the docs' drift test and for tools. */
export interface MetricDescription {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly labelNames: readonly string[];
}

/** Default latency buckets in seconds, from 1 ms to 10 s. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Metric {
  readonly description: MetricDescription;
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
    this.register({ name, help, type: "counter", labelNames }, () =>
      [...series.values()].map((s) => `${name}${renderLabels(s.labels)} ${formatValue(s.value)}`),
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
    this.register({ name, help, type: "gauge", labelNames }, () =>
      [...series.values()].map((s) => `${name}${renderLabels(s.labels)} ${formatValue(s.value)}`),
    );
    return {
      set: (value, labels = {}) => {
        series.set(seriesKey(labelNames, labels), { labels, value });
      },
      get: (labels = {}) => series.get(seriesKey(labelNames, labels))?.value ?? 0,
    };
  }

  /**
   * Declares a counter or gauge whose samples `collect` computes each time the registry renders (for
   * values read from elsewhere: the process, a snapshot taken by a timer). `collect` must not throw and
   * must use only the declared label names.
   */
  computed(
    name: string,
    help: string,
    type: "counter" | "gauge",
    labelNames: readonly string[],
    collect: () => Iterable<Sample>,
  ): void {
    this.register({ name, help, type, labelNames }, () =>
      [...collect()].map(({ labels = {}, value }) => {
        seriesKey(labelNames, labels);
        return `${name}${renderLabels(labels)} ${formatValue(value)}`;
      }),
    );
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
      `${name}_sum${renderLabels(s.labels)} ${formatValue(s.sum)}`,
      `${name}_count${renderLabels(s.labels)} ${s.count}`,
    ];
    const find = (labels: Labels) => {
      const key = seriesKey(labelNames, labels);
      let entry = series.get(key);
      if (!entry) {
        entry = { labels, counts: buckets.map(() => 0), sum: 0, count: 0 };
        series.set(key, entry);
      }
      return entry;
    };
    this.register({ name, help, type: "histogram", labelNames }, () =>
      [...series.values()].flatMap(renderOne),
    );
    return {
      observe: (value, labels = {}) => {
        const entry = find(labels);
        for (let i = 0; i < buckets.length; i++)
          if (value <= (buckets[i] ?? 0)) entry.counts[i] = (entry.counts[i] ?? 0) + 1;
        entry.sum += value;
        entry.count += 1;
      },
      init: (labels = {}) => {
        find(labels);
      },
    };
  }

  /** Every metric declared, in the order of declaration. */
  describe(): MetricDescription[] {
    return [...this.metrics.values()].map((m) => m.description);
  }

  /** The whole registry in the Prometheus text format (version 0.0.4). */
  render(): string {
    return `${[...this.metrics.values()].map((m) => m.render()).join("\n")}\n`;
  }

  private register(description: MetricDescription, lines: () => string[]): void {
    const { name, help, type } = description;
    if (this.metrics.has(name)) throw new Error(`metric ${name} is declared twice`);
    const head = [`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`];
    this.metrics.set(name, {
      description: { ...description, labelNames: [...description.labelNames] },
      render: () => [...head, ...lines()].join("\n"),
    });
  }
}

/** The Content-Type of {@link MetricsRegistry.render}'s output. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
