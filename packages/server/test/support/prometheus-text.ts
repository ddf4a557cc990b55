/**
 * A strict reader of the Prometheus text exposition format 0.0.4, for tests: it throws on any
 * line a Prometheus server would reject, so a test that parses /metrics also checks the format.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const metricName = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const helpLine = new RegExp(`^# HELP (${metricName}) (.*)$`);
const typeLine = new RegExp(`^# TYPE (${metricName}) (counter|gauge|histogram|summary|untyped)$`);
const sampleLine = new RegExp(`^(${metricName})(\\{.*\\})? (\\S+)( -?\\d+)?$`);
const labelPair = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)/;

export function parseExposition(text: string): Map<string, MetricFamily> {
  if (!text.endsWith("\n")) throw new Error("exposition must end with a newline");
  const families = new Map<string, MetricFamily>();
  for (const line of text.slice(0, -1).split("\n")) {
    const help = helpLine.exec(line);
    const type = typeLine.exec(line);
    if (help) {
      familyFor(families, help[1] ?? "").help = unescapeHelp(help[2] ?? "");
    } else if (type) {
      const family = familyFor(families, type[1] ?? "");
      if (family.samples.length > 0) throw new Error(`TYPE after samples: ${line}`);
      family.type = type[2] ?? "";
    } else if (line.startsWith("#") || line === "") {
    } else {
      const sample = parseSample(line);
      const family = families.get(familyName(sample.name, families));
      if (!family?.type) throw new Error(`sample without a TYPE line before it: ${line}`);
      family.samples.push(sample);
    }
  }
  return families;
}

function familyFor(families: Map<string, MetricFamily>, name: string): MetricFamily {
  let family = families.get(name);
  if (!family) {
    family = { name, type: "", help: "", samples: [] };
    families.set(name, family);
  }
  return family;
}

/** `x_bucket`, `x_sum`, `x_count` belong to histogram `x`. */
function familyName(sampleName: string, families: Map<string, MetricFamily>): string {
  if (families.has(sampleName)) return sampleName;
  const base = sampleName.replace(/_(bucket|sum|count)$/, "");
  return families.get(base)?.type === "histogram" ? base : sampleName;
}

function parseSample(line: string): Sample {
  const match = sampleLine.exec(line);
  if (!match) throw new Error(`not a sample line: ${line}`);
  const labels: Record<string, string> = {};
  let rest = (match[2] ?? "{}").slice(1, -1);
  while (rest.length > 0) {
    const pair = labelPair.exec(rest);
    if (!pair) throw new Error(`bad labels in: ${line}`);
    const name = pair[1] ?? "";
    if (name in labels) throw new Error(`duplicate label ${name} in: ${line}`);
    labels[name] = unescapeLabelValue(pair[2] ?? "");
    rest = rest.slice(pair[0].length);
  }
  return { name: match[1] ?? "", labels, value: parseValue(match[3] ?? "", line) };
}

function parseValue(text: string, line: string): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  // Prometheus parses floats with Go's ParseFloat, which takes NaN in any case (prom-client writes "Nan").
  if (/^nan$/i.test(text)) return Number.NaN;
  const value = Number(text);
  if (text.trim() === "" || Number.isNaN(value)) throw new Error(`bad value in: ${line}`);
  return value;
}

function unescapeLabelValue(text: string): string {
  return text.replace(/\\(\\|"|n)/g, (_, escaped: string) => (escaped === "n" ? "\n" : escaped));
}

function unescapeHelp(text: string): string {
  return text.replace(/\\(\\|n)/g, (_, escaped: string) => (escaped === "n" ? "\n" : escaped));
}

/** The one sample of `name` whose labels include `labels`; throws when there are several. */
export function sampleValue(
  families: Map<string, MetricFamily>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const family = families.get(familyName(name, families));
  const matching = (family?.samples ?? []).filter(
    (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
  if (matching.length > 1) throw new Error(`${matching.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return matching[0]?.value;
}

/** Checks what Prometheus expects of every histogram series: cumulative buckets ending in +Inf = _count. */
export function assertHistogramsConsistent(families: Map<string, MetricFamily>): void {
  for (const family of families.values()) {
    if (family.type !== "histogram") continue;
    const series = new Map<string, Sample[]>();
    for (const sample of family.samples) {
      const { le: _le, ...rest } = sample.labels;
      const key = JSON.stringify(rest);
      series.set(key, [...(series.get(key) ?? []), sample]);
    }
    for (const [key, samples] of series) {
      const buckets = samples.filter((s) => s.name === `${family.name}_bucket`);
      const count = samples.find((s) => s.name === `${family.name}_count`)?.value;
      const sum = samples.find((s) => s.name === `${family.name}_sum`)?.value;
      if (count === undefined || sum === undefined) throw new Error(`${family.name}${key}: no _count or _sum`);
      const bounds = buckets.map((b) => parseValue(b.labels.le ?? "", family.name));
      for (let i = 1; i < buckets.length; i++) {
        if (!((bounds[i] ?? 0) > (bounds[i - 1] ?? 0))) throw new Error(`${family.name}${key}: le not ascending`);
        if ((buckets[i]?.value ?? 0) < (buckets[i - 1]?.value ?? 0)) {
          throw new Error(`${family.name}${key}: buckets not cumulative`);
        }
      }
      const last = buckets.at(-1);
      if (last?.labels.le !== "+Inf" || last.value !== count) {
        throw new Error(`${family.name}${key}: the +Inf bucket must equal _count`);
      }
    }
  }
}
