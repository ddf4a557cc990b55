import { describe, expect, it } from "vitest";
import { balancedOrders } from "./round-orders.ts";

describe("balancedOrders", () => {
  for (const n of [1, 2, 3, 4, 5, 6]) {
    it(`puts each of ${n} targets in each position, and after each other target, equally often`, () => {
      const orders = balancedOrders(n);
      expect(orders).toHaveLength(n % 2 === 0 ? n : 2 * n);
      const positions = new Map<string, number>();
      const followers = new Map<string, number>();
      for (const order of orders) {
        expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, index) => index));
        order.forEach((target, position) => {
          const key = `${target}@${position}`;
          positions.set(key, (positions.get(key) ?? 0) + 1);
        });
        for (let index = 1; index < order.length; index++) {
          const key = `${order[index - 1]}>${order[index]}`;
          followers.set(key, (followers.get(key) ?? 0) + 1);
        }
      }
      expect(positions.size).toBe(n * n);
      expect(new Set(positions.values()).size).toBe(1);
      expect(followers.size).toBe(n * (n - 1));
      if (n > 1) expect(new Set(followers.values()).size).toBe(1);
    });
  }

  it("gives the six permutations for three targets", () => {
    const orders = balancedOrders(3).map((order) => order.join(""));
    expect(new Set(orders)).toEqual(new Set(["012", "021", "102", "120", "201", "210"]));
  });
});
