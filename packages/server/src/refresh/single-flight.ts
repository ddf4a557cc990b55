/**
 * At most one running call per key: callers that arrive while a call for their key is in
 * flight share its result (or its failure). The entry is dropped as soon as the call settles,
 * so nothing is cached beyond the flight itself.
 */
export class SingleFlight<Value> {
  readonly #inFlight = new Map<string, Promise<Value>>();

  run(key: string, call: () => Promise<Value>): Promise<Value> {
    const running = this.#inFlight.get(key);
    if (running) return running;
    const flight = (async () => {
      try {
        return await call();
      } finally {
        this.#inFlight.delete(key);
      }
    })();
    this.#inFlight.set(key, flight);
    return flight;
  }

  get size(): number {
    return this.#inFlight.size;
  }
}

const flightsByOwner = new WeakMap<object, SingleFlight<unknown>>();

/**
 * The single-flight map shared by everything that holds the same owner object. Refresh keys it
 * by the database handle: every app instance in this process that uses one database handle
 * (one embedded PGlite, or one PostgreSQL pool) shares one map, so "one refresh per
 * connection per process" holds even when tests run several app instances side by side.
 */
export function singleFlightFor<Value>(owner: object): SingleFlight<Value> {
  let flight = flightsByOwner.get(owner);
  if (!flight) {
    flight = new SingleFlight<unknown>();
    flightsByOwner.set(owner, flight);
  }
  return flight as SingleFlight<Value>;
}
