import client from "prom-client";

/**
 * Prometheus metrics through `prom-client`, one registry per app instance (createLatchkeyApp
 * builds it; features reach it as `deps.metrics`). Registration is idempotent by name, so a
 * feature may ask for its metric wherever it needs it:
 *
 *   const refreshes = deps.metrics.counter({
 *     name: "latchkey_token_refreshes_total",
 *     help: "Token refreshes by provider and outcome",
 *     labelNames: ["provider", "outcome"],
 *   });
 *   refreshes.inc({ provider: "google", outcome: "ok" });
 *
 * The process, GC and event-loop-lag metrics prom-client collects are process-wide, so they live
 * in one shared registry, created on first render and appended to every instance's output.
 * Keep label values bounded (route patterns, provider ids, outcomes), never user ids.
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

export const exposition = { contentType: client.Registry.PROMETHEUS_CONTENT_TYPE } as const;

type PromLabels = Partial<Record<string, string | number>>;

/** Label sets are checked here: prom-client accepts a missing label silently, which would split series. */
function checkedLabels(name: string, labelNames: readonly string[], labels: object | undefined): PromLabels {
  const given = (labels ?? {}) as Record<string, string | number>;
  const unknown = Object.keys(given).filter((label) => !labelNames.includes(label));
  const missing = labelNames.filter((label) => given[label] === undefined);
  if (unknown.length > 0 || missing.length > 0) {
    throw new Error(
      `Metric ${name} takes labels [${labelNames.join(", ")}]` +
        `${missing.length > 0 ? `; missing ${missing.join(", ")}` : ""}` +
        `${unknown.length > 0 ? `; unknown ${unknown.join(", ")}` : ""}`,
    );
  }
  return given;
}

function sameLabels(values: client.MetricValue<string>["labels"], wanted: PromLabels): boolean {
  const keys = Object.keys(wanted);
  return keys.length === Object.keys(values).length && keys.every((key) => String(values[key]) === String(wanted[key]));
}

export class Counter<Label extends string = never> {
  /**
   * The series `series` handed out, by label values. Their counts add up here and reach
   * prom-client at each scrape (`flush`, the metric's collect): prom-client's own labelled `inc`
   * hashes the label set on every call, about 1 µs, which the per-request counters would pay.
   */
  readonly #series = new Map<string, { pending: number; child: { inc(by: number): void } }>();

  constructor(
    readonly name: string,
    readonly metric: client.Counter<string>,
    readonly labelNames: readonly Label[],
  ) {}

  inc(...[labels]: LabelArgs<Label>): void {
    this.add(labels, 1);
  }

  add(labels: LabelValues<Label> | undefined, by: number): void {
    this.series(labels).add(by);
  }

  /** One series, resolved once: for callers that count the same labels again and again. */
  series(labels: LabelValues<Label> | undefined): { add(by: number): void } {
    const checked = checkedLabels(this.name, this.labelNames, labels);
    const key = JSON.stringify(this.labelNames.map((label) => checked[label]));
    let entry = this.#series.get(key);
    if (entry === undefined) {
      entry = { pending: 0, child: this.labelNames.length === 0 ? this.metric : this.metric.labels(checked) };
      this.#series.set(key, entry);
    }
    const series = entry;
    return {
      add: (by) => {
        // Refused here, where prom-client would have refused it, rather than at the next scrape.
        if (!(by >= 0 && Number.isFinite(by)))
          throw new Error(`Metric ${this.name}: it is not possible to decrease a counter (got ${by})`);
        series.pending += by;
      },
    };
  }

  /** Hands what the series added since the last call to prom-client. */
  flush(): void {
    for (const series of this.#series.values()) {
      if (series.pending === 0) continue;
      series.child.inc(series.pending);
      series.pending = 0;
    }
  }

  /** The current value of one series (0 when never incremented). */
  async get(...[labels]: LabelArgs<Label>): Promise<number> {
    const wanted = checkedLabels(this.name, this.labelNames, labels);
    const { values } = await this.metric.get();
    return values.find((value) => sameLabels(value.labels, wanted))?.value ?? 0;
  }
}

export class Gauge<Label extends string = never> {
  constructor(
    readonly name: string,
    readonly metric: client.Gauge<string>,
    readonly labelNames: readonly Label[],
  ) {}

  set(labels: LabelValues<Label> | undefined, value: number): void {
    const checked = checkedLabels(this.name, this.labelNames, labels);
    if (this.labelNames.length === 0) this.metric.set(value);
    else this.metric.set(checked, value);
  }
}

export class Histogram<Label extends string = never> {
  constructor(
    readonly name: string,
    readonly metric: client.Histogram<string>,
    readonly labelNames: readonly Label[],
  ) {}

  observe(labels: LabelValues<Label> | undefined, value: number): void {
    this.series(labels).observe(value);
  }

  /** One series, resolved once: for callers that observe the same labels again and again. */
  series(labels: LabelValues<Label> | undefined): { observe(value: number): void } {
    const checked = checkedLabels(this.name, this.labelNames, labels);
    const child = this.labelNames.length === 0 ? this.metric : this.metric.labels(checked);
    // A NaN or infinite duration (a clock quirk) is dropped rather than poisoning the sum.
    return { observe: (value) => Number.isFinite(value) && child.observe(value) };
  }

  /** Starts a timer; the returned function observes the seconds elapsed and returns them. */
  startTimer(...[labels]: LabelArgs<Label>): () => number {
    const series = this.series(labels);
    const started = performance.now();
    return () => {
      const seconds = (performance.now() - started) / 1000;
      series.observe(seconds);
      return seconds;
    };
  }

  /** Number of observations in one series. */
  async count(...[labels]: LabelArgs<Label>): Promise<number> {
    const wanted = checkedLabels(this.name, this.labelNames, labels);
    const { values } = await this.metric.get();
    const count = values.find((value) => value.metricName === `${this.name}_count` && sameLabels(value.labels, wanted));
    return count?.value ?? 0;
  }
}

type Kind = "counter" | "gauge" | "histogram";

interface Registered {
  kind: Kind;
  labelNames: readonly string[];
  buckets: readonly number[] | undefined;
  wrapper: Counter<string> | Gauge<string> | Histogram<string>;
}

/** Process-wide metrics (CPU, memory, GC, event-loop lag): one registry for the whole process. */
let processRegistry: client.Registry | undefined;

function processMetrics(): client.Registry {
  if (!processRegistry) {
    processRegistry = new client.Registry();
    client.collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export class Metrics {
  readonly registry = new client.Registry();
  readonly #registered = new Map<string, Registered>();

  counter<Label extends string = never>(options: MetricOptions<Label>): Counter<Label> {
    return this.#define(options, "counter", undefined, () => {
      let wrapper: Counter<Label> | undefined;
      const metric = new client.Counter({
        ...this.#common(options),
        registers: [this.registry],
        collect: () => wrapper?.flush(),
      });
      wrapper = new Counter<Label>(options.name, metric, options.labelNames ?? []);
      return wrapper;
    });
  }

  gauge<Label extends string = never>(options: GaugeOptions<Label>): Gauge<Label> {
    return this.#define(options, "gauge", undefined, () => {
      let wrapper: Gauge<Label> | undefined;
      const { collect } = options;
      const metric = new client.Gauge({
        ...this.#common(options),
        registers: [this.registry],
        ...(collect && {
          collect: () => {
            if (wrapper) collect(wrapper);
          },
        }),
      });
      wrapper = new Gauge<Label>(options.name, metric, options.labelNames ?? []);
      return wrapper;
    });
  }

  histogram<Label extends string = never>(options: HistogramOptions<Label>): Histogram<Label> {
    const buckets = options.buckets ?? defaultBuckets;
    if (buckets.some((bound, index) => index > 0 && bound <= (buckets[index - 1] ?? Number.NEGATIVE_INFINITY))) {
      throw new Error(`Metric ${options.name}: buckets must be ascending`);
    }
    if ((options.labelNames as readonly string[] | undefined)?.includes("le")) {
      throw new Error(`Metric ${options.name}: the label name "le" is reserved for buckets`);
    }
    return this.#define(options, "histogram", buckets, () => {
      const metric = new client.Histogram({
        ...this.#common(options),
        buckets: [...buckets],
        registers: [this.registry],
      });
      return new Histogram<Label>(options.name, metric, options.labelNames ?? []);
    });
  }

  /** The Prometheus text exposition of this instance's metrics and the process metrics. */
  async render(): Promise<string> {
    const [instance, process] = await Promise.all([this.registry.metrics(), processMetrics().metrics()]);
    return `${instance}\n${process}`;
  }

  #common<Label extends string>(options: MetricOptions<Label>) {
    return { name: options.name, help: options.help, labelNames: [...(options.labelNames ?? [])] };
  }

  #define<Wrapper extends Registered["wrapper"]>(
    options: MetricOptions<string>,
    kind: Kind,
    buckets: readonly number[] | undefined,
    create: () => Wrapper,
  ): Wrapper {
    const labelNames = options.labelNames ?? [];
    // Prometheus reserves `__`-prefixed label names for itself; prom-client does not check that.
    const reserved = labelNames.find((label) => label.startsWith("__"));
    if (reserved) throw new Error(`Metric ${options.name}: the label name "${reserved}" is reserved`);
    const existing = this.#registered.get(options.name);
    if (existing) {
      if (existing.kind !== kind || existing.labelNames.join("\0") !== labelNames.join("\0")) {
        throw new Error(`Metric ${options.name} is already registered as a ${existing.kind} with other labels`);
      }
      if (existing.buckets?.join() !== buckets?.join()) {
        throw new Error(`Metric ${options.name} is already registered with other buckets`);
      }
      return existing.wrapper as Wrapper;
    }
    const wrapper = create();
    this.#registered.set(options.name, { kind, labelNames, buckets, wrapper });
    return wrapper;
  }
}
