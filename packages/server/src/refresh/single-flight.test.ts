import { describe, expect, it } from "vitest";
import { SingleFlight, singleFlightFor } from "./single-flight.ts";

describe("SingleFlight", () => {
  it("runs one call per key while it is in flight and gives every caller its result", async () => {
    const flight = new SingleFlight<number>();
    let calls = 0;
    let release!: (value: number) => void;
    const call = () => {
      calls++;
      return new Promise<number>((resolve) => (release = resolve));
    };
    const waiting = Array.from({ length: 10 }, () => flight.run("conn_1", call));
    expect(flight.size).toBe(1);
    release(42);
    expect(await Promise.all(waiting)).toEqual(Array(10).fill(42));
    expect(calls).toBe(1);
    expect(flight.size).toBe(0);
  });

  it("keeps keys apart", async () => {
    const flight = new SingleFlight<string>();
    const results = await Promise.all([flight.run("a", async () => "A"), flight.run("b", async () => "B")]);
    expect(results).toEqual(["A", "B"]);
  });

  it("shares a failure with the callers of that flight only, then forgets it", async () => {
    const flight = new SingleFlight<string>();
    const failing = () => Promise.reject(new Error("provider down"));
    const outcomes = await Promise.allSettled([flight.run("k", failing), flight.run("k", failing)]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(["rejected", "rejected"]);
    expect(await flight.run("k", async () => "recovered")).toBe("recovered");
  });

  it("is shared by everything holding the same owner object, and separate for another owner", () => {
    const owner = {};
    expect(singleFlightFor(owner)).toBe(singleFlightFor(owner));
    expect(singleFlightFor(owner)).not.toBe(singleFlightFor({}));
  });
});
