/**
 * A small Prometheus registry, one per app instance (createLatchkeyApp builds it; features reach it as
 * `services.metrics`). Registration is idempotent by name, so a feature may ask for its metric
 * wherever it needs it:
 *
 *   const refreshes = services.metrics.counter({
 *     name: "latchkey_token_refreshes_total",
 *     help: "Token refreshes by provider and outcome",
 *     labelNames: ["provider", "outcome"],
 *   });
 *   refreshes.inc({ provider: "google", outcome: "ok" });
 *
 *   const callback = services.metrics.histogram({ name: "latchkey_oauth_callback_duration_seconds", help: "…" });
 *   const stop = callback.startTimer();  …  stop();
 *
 * Output is the text exposition format 0.0.4. Keep label values bounded (route patterns, provider
 * ids, outcomes), never user ids or other unbounded values.
 */

export type LabelValues<Label extends string> = Readonly<Record<Label, string | number>>;

/** Labels are required exactly when the metric has label names. */
type LabelArgs<Label extends string> = [Label] extends [never]
  ? [labels?: LabelValues<Label>]
  : [labels: LabelValues<Label>];

export interface MetricOptions<Label extends string> {
  /** `latchkey_…`; counters end in `_total`, durations in `_seconds`. */
  name: string;
  help: string;
  labelNames?: readonly Label[];
}

export interface HistogramOptions<Label extends string> extends MetricOptions<Label> {
  /** Upper bounds, ascending; `+Inf` is added. Default: Prometheus' latency buckets (5 ms … 10 s). */
  buckets?: readonly number[];
}

export interface GaugeOptions<Label extends string> extends MetricOptions<Label> {
  /** Called at every scrape, before the gauge is rendered: the place to read process values. */
  collect?: (gauge: Gauge<Label>) => void;
}

export const defaultBuckets: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const exposition = { contentType: "text/plain; version=0.0.4; charset=utf-8" } as const;

const metricNamePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelNamePattern = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

type Kind = "counter" | "gauge" | "histogram";

abstract class Metric<Label extends string> {
  abstract readonly kind: Kind;
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly Label[];

  constructor(options: MetricOptions<Label>) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = [...(options.labelNames ?? [])];
  }

  /** Exposition lines for this metric's samples (without HELP/TYPE). */
  abstract samples(): string[];

  /** Ordered label values of one series; throws on a missing or unknown label (a programming error). */
  protected seriesValues(labels: LabelValues<Label> | undefined): string[] {
    const given = (labels ?? {}) as Record<string, string | number>;
    const unknown = Object.keys(given).filter((name) => !(this.labelNames as readonly string[]).includes(name));
    const missing = this.labelNames.filter((name) => given[name] === undefined);
    if (unknown.length > 0 || missing.length > 0) {
      throw new Error(
        `Metric ${this.name} takes labels [${this.labelNames.join(", ")}]` +
          `${missing.length > 0 ? `; missing ${missing.join(", ")}` : ""}` +
          `${unknown.length > 0 ? `; unknown ${unknown.join(", ")}` : ""}`,
      );
    }
    return this.labelNames.map((name) => String(given[name]));
  }

  protected labelText(values: readonly string[], extra?: readonly [string, string]): string {
    const pairs = values.map((value, index) => `${this.labelNames[index]}="${escapeLabelValue(value)}"`);
    if (extra) pairs.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
    return pairs.length > 0 ? `{${pairs.join(",")}}` : "";
  }
}

/** A value that only goes up (requests, refreshes, failures). */
export class Counter<Label extends string = never> extends Metric<Label> {
  readonly kind = "counter";
  readonly #series = new Map<string, { values: string[]; count: number }>();

  inc(...[labels]: LabelArgs<Label>): void {
    this.add(labels, 1);
  }

  add(labels: LabelValues<Label> | undefined, by: number): void {
    if (!(by >= 0)) throw new Error(`Counter ${this.name} can only increase (got ${by})`);
    this.series(labels).add(by);
  }

  /** One series, resolved once: for callers that count the same labels again and again. */
  series(labels: LabelValues<Label> | undefined): { add(by: number): void } {
    const values = this.seriesValues(labels);
    const key = JSON.stringify(values);
    let series = this.#series.get(key);
    if (!series) {
      series = { values, count: 0 };
      this.#series.set(key, series);
    }
    const counted = series;
    return {
      add: (by) => {
        if (!(by >= 0)) throw new Error(`Counter ${this.name} can only increase (got ${by})`);
        counted.count += by;
      },
    };
  }

  /** The current value of one series (0 when never incremented). */
  get(...[labels]: LabelArgs<Label>): number {
    return this.#series.get(JSON.stringify(this.seriesValues(labels)))?.count ?? 0;
  }

  samples(): string[] {
    if (this.#series.size === 0 && this.labelNames.length === 0) return [`${this.name} 0`];
    return [...this.#series.values()].map((s) => `${this.name}${this.labelText(s.values)} ${formatNumber(s.count)}`);
  }
}

/** A value that goes up and down, usually set at scrape time by `collect`. */
export class Gauge<Label extends string = never> extends Metric<Label> {
  readonly kind = "gauge";
  readonly #series = new Map<string, { values: string[]; value: number }>();
  readonly #collect: ((gauge: Gauge<Label>) => void) | undefined;

  constructor(options: GaugeOptions<Label>) {
    super(options);
    this.#collect = options.collect;
  }

  set(labels: LabelValues<Label> | undefined, value: number): void {
    const values = this.seriesValues(labels);
    this.#series.set(JSON.stringify(values), { values, value });
  }

  get(...[labels]: LabelArgs<Label>): number | undefined {
    return this.#series.get(JSON.stringify(this.seriesValues(labels)))?.value;
  }

  samples(): string[] {
    this.#collect?.(this);
    return [...this.#series.values()].map((s) => `${this.name}${this.labelText(s.values)} ${formatNumber(s.value)}`);
  }
}

interface HistogramSeries {
  values: string[];
  /** Per-bucket (non-cumulative) counts; the last slot is +Inf. */
  bucketCounts: number[];
  sum: number;
  count: number;
}

/** A distribution (durations, sizes) in fixed buckets. */
export class Histogram<Label extends string = never> extends Metric<Label> {
  readonly kind = "histogram";
  readonly buckets: readonly number[];
  readonly #series = new Map<string, HistogramSeries>();

  constructor(options: HistogramOptions<Label>) {
    super(options);
    const buckets = [...(options.buckets ?? defaultBuckets)];
    const ascending = buckets.every((bound, i) => Number.isFinite(bound) && (i === 0 || bound > (buckets[i - 1] ?? 0)));
    if (buckets.length === 0 || !ascending) {
      throw new Error(`Histogram ${this.name}: buckets must be finite and strictly ascending`);
    }
    if ((this.labelNames as readonly string[]).includes("le")) {
      throw new Error(`Histogram ${this.name}: "le" is reserved for bucket bounds`);
    }
    this.buckets = buckets;
  }

  observe(labels: LabelValues<Label> | undefined, value: number): void {
    if (Number.isNaN(value)) return;
    this.series(labels).observe(value);
  }

  /** One series, resolved once: for callers that observe the same labels again and again. */
  series(labels: LabelValues<Label> | undefined): { observe(value: number): void } {
    const values = this.seriesValues(labels);
    const key = JSON.stringify(values);
    let series = this.#series.get(key);
    if (!series) {
      series = { values, bucketCounts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    const observed = series;
    return {
      observe: (value) => {
        if (Number.isNaN(value)) return;
        const index = this.buckets.findIndex((bound) => value <= bound);
        const slot = index === -1 ? this.buckets.length : index;
        observed.bucketCounts[slot] = (observed.bucketCounts[slot] ?? 0) + 1;
        observed.sum += value;
        observed.count += 1;
      },
    };
  }

  /** Starts a timer; calling the returned function observes the elapsed seconds and returns them. */
  startTimer(...[labels]: LabelArgs<Label>): () => number {
    const started = performance.now();
    return () => {
      const seconds = (performance.now() - started) / 1000;
      this.observe(labels, seconds);
      return seconds;
    };
  }

  /** Number of observations in one series. */
  count(...[labels]: LabelArgs<Label>): number {
    return this.#series.get(JSON.stringify(this.seriesValues(labels)))?.count ?? 0;
  }

  samples(): string[] {
    const lines: string[] = [];
    for (const series of this.#series.values()) {
      let cumulative = 0;
      this.buckets.forEach((bound, index) => {
        cumulative += series.bucketCounts[index] ?? 0;
        lines.push(`${this.name}_bucket${this.labelText(series.values, ["le", formatNumber(bound)])} ${cumulative}`);
      });
      lines.push(`${this.name}_bucket${this.labelText(series.values, ["le", "+Inf"])} ${series.count}`);
      lines.push(`${this.name}_sum${this.labelText(series.values)} ${formatNumber(series.sum)}`);
      lines.push(`${this.name}_count${this.labelText(series.values)} ${series.count}`);
    }
    return lines;
  }
}

export class Metrics {
  readonly #metrics = new Map<string, Metric<string>>();

  counter<Label extends string = never>(options: MetricOptions<Label>): Counter<Label> {
    return this.#register("counter", options, () => new Counter<Label>(options));
  }

  gauge<Label extends string = never>(options: GaugeOptions<Label>): Gauge<Label> {
    return this.#register("gauge", options, () => new Gauge<Label>(options));
  }

  histogram<Label extends string = never>(options: HistogramOptions<Label>): Histogram<Label> {
    const metric = this.#register("histogram", options, () => new Histogram<Label>(options));
    const buckets = options.buckets ?? defaultBuckets;
    if (metric.buckets.join() !== buckets.join()) {
      throw new Error(`Histogram ${options.name} is already registered with other buckets`);
    }
    return metric;
  }

  /** The whole registry in the text exposition format 0.0.4. */
  render(): string {
    const lines: string[] = [];
    for (const metric of this.#metrics.values()) {
      const samples = metric.samples();
      lines.push(
        `# HELP ${metric.name} ${escapeHelp(metric.help)}`,
        `# TYPE ${metric.name} ${metric.kind}`,
        ...samples,
      );
    }
    return `${lines.join("\n")}\n`;
  }

  #register<M extends Metric<string>>(kind: Kind, options: MetricOptions<string>, create: () => M): M {
    const existing = this.#metrics.get(options.name);
    if (existing) {
      const sameLabels = existing.labelNames.join() === (options.labelNames ?? []).join();
      if (existing.kind !== kind || !sameLabels) {
        throw new Error(
          `Metric ${options.name} is already registered as a ${existing.kind} with labels [${existing.labelNames.join(", ")}]`,
        );
      }
      return existing as M;
    }
    validateNames(options);
    const metric = create();
    this.#metrics.set(options.name, metric);
    return metric;
  }
}

function validateNames(options: MetricOptions<string>): void {
  if (!metricNamePattern.test(options.name)) throw new Error(`Invalid metric name "${options.name}"`);
  const labelNames = options.labelNames ?? [];
  for (const label of labelNames) {
    if (!labelNamePattern.test(label) || label.startsWith("__")) {
      throw new Error(`Metric ${options.name}: invalid label name "${label}"`);
    }
  }
  if (new Set(labelNames).size !== labelNames.length) throw new Error(`Metric ${options.name}: duplicate label names`);
}

export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
