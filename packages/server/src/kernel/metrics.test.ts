import { describe, expect, it } from "vitest";
import { assertHistogramsConsistent, parseExposition, sampleValue } from "../../test/support/prometheus-text.ts";
import { Metrics } from "./metrics.ts";

describe("metrics registry", () => {
  it("renders counters with HELP and TYPE lines and one sample per label set", async () => {
    const metrics = new Metrics();
    const refreshes = metrics.counter({
      name: "latchkey_refreshes_total",
      help: "Token refreshes",
      labelNames: ["provider", "outcome"],
    });
    refreshes.inc({ provider: "google", outcome: "ok" });
    refreshes.inc({ provider: "google", outcome: "ok" });
    refreshes.add({ provider: "slack", outcome: "error" }, 3);

    const text = await metrics.render();
    expect(text).toContain(
      "# HELP latchkey_refreshes_total Token refreshes\n# TYPE latchkey_refreshes_total counter\n",
    );
    const families = parseExposition(text);
    expect(sampleValue(families, "latchkey_refreshes_total", { provider: "google", outcome: "ok" })).toBe(2);
    expect(sampleValue(families, "latchkey_refreshes_total", { provider: "slack", outcome: "error" })).toBe(3);
    expect(families.get("latchkey_refreshes_total")?.samples).toHaveLength(2);
  });

  it("shows an unlabelled counter as 0 before its first increment", async () => {
    const metrics = new Metrics();
    metrics.counter({ name: "latchkey_things_total", help: "Things" });
    expect(await metrics.render()).toContain("\nlatchkey_things_total 0\n");
  });

  it("escapes backslashes, quotes and newlines in label values and HELP text", async () => {
    const metrics = new Metrics();
    const counter = metrics.counter({
      name: "latchkey_odd_total",
      help: "Odd \\ help\nsecond line",
      labelNames: ["value"],
    });
    const awkward = 'a "quoted" \\ back\nslash';
    counter.inc({ value: awkward });

    const text = await metrics.render();
    expect(text).toContain("# HELP latchkey_odd_total Odd \\\\ help\\nsecond line\n");
    expect(text).toContain('latchkey_odd_total{value="a \\"quoted\\" \\\\ back\\nslash"} 1\n');
    const families = parseExposition(text);
    expect(families.get("latchkey_odd_total")?.help).toBe("Odd \\ help\nsecond line");
    expect(sampleValue(families, "latchkey_odd_total", { value: awkward })).toBe(1);
  });

  it("renders histograms as cumulative _bucket{le} series with _sum and _count", async () => {
    const metrics = new Metrics();
    const durations = metrics.histogram({
      name: "latchkey_callback_duration_seconds",
      help: "Callback duration",
      labelNames: ["provider"],
      buckets: [0.1, 1, 5],
    });
    for (const seconds of [0.05, 0.1, 0.5, 2, 30]) durations.observe({ provider: "github" }, seconds);

    const families = parseExposition(await metrics.render());
    assertHistogramsConsistent(families);
    const bucket = (le: string) =>
      sampleValue(families, "latchkey_callback_duration_seconds_bucket", { provider: "github", le });
    expect([bucket("0.1"), bucket("1"), bucket("5"), bucket("+Inf")]).toEqual([2, 3, 4, 5]);
    expect(sampleValue(families, "latchkey_callback_duration_seconds_count", { provider: "github" })).toBe(5);
    expect(sampleValue(families, "latchkey_callback_duration_seconds_sum", { provider: "github" })).toBeCloseTo(32.65);
    expect(families.get("latchkey_callback_duration_seconds")?.type).toBe("histogram");
  });

  it("counts through a resolved series handle into the same series as inc and observe", async () => {
    const metrics = new Metrics();
    const requests = metrics.counter({ name: "latchkey_calls_total", help: "Calls", labelNames: ["route"] });
    const durations = metrics.histogram({
      name: "latchkey_call_seconds",
      help: "Call time",
      labelNames: ["route"],
      buckets: [1],
    });
    const counted = requests.series({ route: "/a" });
    const timed = durations.series({ route: "/a" });
    counted.add(2);
    requests.inc({ route: "/a" });
    timed.observe(0.5);
    timed.observe(Number.NaN);
    durations.observe({ route: "/a" }, 3);
    expect(await requests.get({ route: "/a" })).toBe(3);
    expect(await durations.count({ route: "/a" })).toBe(2);
    expect(() => counted.add(-1)).toThrow("not possible to decrease");
    const families = parseExposition(await metrics.render());
    assertHistogramsConsistent(families);
    expect(sampleValue(families, "latchkey_call_seconds_bucket", { route: "/a", le: "1" })).toBe(1);
  });

  it("times with startTimer", async () => {
    const metrics = new Metrics();
    const histogram = metrics.histogram({ name: "latchkey_wait_seconds", help: "Wait" });
    const stop = histogram.startTimer();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const seconds = stop();
    expect(seconds).toBeGreaterThanOrEqual(0.015);
    expect(await histogram.count()).toBe(1);
  });

  it("returns the same metric when a name is registered again, so features can register where they use it", async () => {
    const metrics = new Metrics();
    const first = metrics.counter({ name: "latchkey_x_total", help: "X", labelNames: ["a"] });
    const second = metrics.counter({ name: "latchkey_x_total", help: "X", labelNames: ["a"] });
    first.inc({ a: "1" });
    second.inc({ a: "1" });
    expect(second).toBe(first);
    expect(await first.get({ a: "1" })).toBe(2);
    expect((await metrics.render()).match(/# TYPE latchkey_x_total/g)).toHaveLength(1);
  });

  it("refuses a name registered before as another kind, with other labels or other buckets", async () => {
    const metrics = new Metrics();
    metrics.counter({ name: "latchkey_y_total", help: "Y", labelNames: ["a"] });
    metrics.histogram({ name: "latchkey_y_seconds", help: "Y", buckets: [1, 2] });
    expect(() => metrics.gauge({ name: "latchkey_y_total", help: "Y", labelNames: ["a"] })).toThrow(
      /already registered/,
    );
    expect(() => metrics.counter({ name: "latchkey_y_total", help: "Y", labelNames: ["b"] })).toThrow(
      /already registered/,
    );
    expect(() => metrics.histogram({ name: "latchkey_y_seconds", help: "Y", buckets: [1, 3] })).toThrow(
      /other buckets/,
    );
  });

  it("refuses invalid metric and label names, a reserved le label and unsorted buckets", async () => {
    const metrics = new Metrics();
    expect(() => metrics.counter({ name: "latchkey-dash", help: "H" })).toThrow(/Invalid metric name/);
    expect(() => metrics.counter({ name: "latchkey_a_total", help: "H", labelNames: ["bad-label"] })).toThrow(
      /label name/,
    );
    expect(() => metrics.counter({ name: "latchkey_b_total", help: "H", labelNames: ["__reserved"] })).toThrow(
      /label name/,
    );
    expect(() => metrics.histogram({ name: "latchkey_c_seconds", help: "H", labelNames: ["le"] })).toThrow(/reserved/);
    expect(() => metrics.histogram({ name: "latchkey_d_seconds", help: "H", buckets: [1, 0.5] })).toThrow(/ascending/);
  });

  it("refuses missing or unknown labels and a decreasing counter", async () => {
    const metrics = new Metrics();
    const counter = metrics.counter({ name: "latchkey_z_total", help: "Z", labelNames: ["a", "b"] });
    expect(() => counter.inc({ a: "1" } as unknown as { a: string; b: string })).toThrow(/missing b/);
    expect(() => counter.inc({ a: "1", b: "2", c: "3" } as unknown as { a: string; b: string })).toThrow(/unknown c/);
    expect(() => counter.add({ a: "1", b: "2" }, -1)).toThrow(/not possible to decrease/);
    expect(await metrics.render()).not.toContain("latchkey_z_total{");
  });

  it("computes gauges at render time", async () => {
    const metrics = new Metrics();
    let current = 1;
    metrics.gauge({ name: "latchkey_current", help: "Current", collect: (gauge) => gauge.set(undefined, current) });
    expect(sampleValue(parseExposition(await metrics.render()), "latchkey_current")).toBe(1);
    current = 42;
    expect(sampleValue(parseExposition(await metrics.render()), "latchkey_current")).toBe(42);
  });

  it("keeps registries apart (no module-level state)", async () => {
    const one = new Metrics();
    const two = new Metrics();
    one.counter({ name: "latchkey_shared_total", help: "S" }).inc();
    expect(await two.counter({ name: "latchkey_shared_total", help: "S" }).get()).toBe(0);
  });
});
