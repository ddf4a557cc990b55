/**
 * Round orders in which each target runs in each position equally often and directly follows
 * each other target equally often (a Williams design): a run right after another run of the same
 * process meets the heap that run left, and a plain rotation would always put the same target
 * there. n orders for an even n, 2n (each also reversed) for an odd n; for 3 targets these are the
 * six permutations.
 */
export function balancedOrders(n: number): number[][] {
  const offsets: number[] = [];
  for (let step = 0, low = 0, high = n - 1; offsets.length < n; step++) {
    offsets.push(step % 2 === 0 ? low++ : high--);
  }
  const orders = Array.from({ length: n }, (_, row) => offsets.map((offset) => (offset + row) % n));
  return n % 2 === 0 ? orders : [...orders, ...orders.map((order) => [...order].reverse())];
}
