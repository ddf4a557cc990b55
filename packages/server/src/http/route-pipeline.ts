import type { Context, Hono, MiddlewareHandler } from "hono";
import type { AppEnv } from "./app-env.ts";

/**
 * A middleware of this app. Like Hono's, it calls `next()` at most once and may answer itself by
 * returning a Response (or a promise of one; any other value is ignored, as Hono does); unlike
 * Hono's, `next()` returns synchronously when everything after it did, so a step must not call
 * `.then` on it (`await next()` and `return next()` both work).
 */
export type Step = (c: Context<AppEnv>, next: () => void | Promise<void>) => unknown;

/** What a route's handler, the last step, answers with. */
export type RouteHandler = (c: Context<AppEnv>) => Response | Promise<Response>;

/** Turns any thrown value into the response (the app's one `onError`). */
export type ErrorAnswer = (error: Error, c: Context<AppEnv>) => Response;

/**
 * A step every request takes before its route's own: request context, URL and body guards, CORS.
 * `make` is called once per route with the route's pattern (`unmatched` when no route matched),
 * so a step can resolve per-route things, such as its metric series, once.
 */
interface StepForEveryRequest {
  make: (route: string) => Step;
  /** Which routes it runs for, by the route's pattern or, when no route matched, by the path. */
  appliesTo: (patternOrPath: string) => boolean;
}

/** The route label of requests no route answered (one metric series, so scanners cannot add series). */
export const unmatchedRoute = "unmatched";

/**
 * How every request runs. Hono composes a route's middlewares with an async function, so a route
 * with any middleware (and `app.use` adds to every route) answers through promises, and
 * @hono/node-server then writes the response ticks later, after more stream bookkeeping: measured
 * on this app's machines, about 9 µs of CPU per request, a fifth of a hello-world request's. So
 * each route is mounted as ONE Hono handler that runs the steps itself: the every-request steps,
 * then the route's own, then its handler, synchronously while each returns synchronously. A token
 * served from the token cache leaves Hono's dispatch as a Response, not as a promise.
 *
 * Semantics are those of Hono's compose: an error thrown (or rejected) by a step or the handler
 * becomes `onError`'s response at that step, and the steps before it see that response as `c.res`
 * after their `next()` (so the request context still adds its headers, metrics and log line).
 */
export class RoutePipeline {
  readonly #everyRequest: StepForEveryRequest[] = [];
  #mounted = false;

  constructor(
    readonly app: Hono<AppEnv>,
    private readonly onError: ErrorAnswer,
  ) {}

  /**
   * Adds a step every request takes (or those `appliesTo` picks), in the order added; all of them
   * must be added before the first route is mounted.
   */
  everyRequest(make: (route: string) => Step, appliesTo: (patternOrPath: string) => boolean = () => true): void {
    if (this.#mounted) throw new Error("Steps for every request must be added before the first route");
    this.#everyRequest.push({ make, appliesTo });
  }

  /** Mounts a route: its Hono method and path, its own steps and its handler. */
  mount(method: string, honoPath: string, steps: readonly Step[], handler: RouteHandler): void {
    this.#mounted = true;
    const run = this.#chain([...this.#stepsFor(honoPath, honoPath), ...steps], handler);
    this.app.on(method, [honoPath], run);
  }

  /**
   * Answers requests no route matched: the every-request steps that apply to the path (one may
   * answer itself, as the CORS preflight does), then `answer`, which usually throws a 404.
   */
  mountNotFound(answer: RouteHandler): void {
    this.#mounted = true;
    const chains = new Map<string, (c: Context<AppEnv>) => Response | Promise<Response>>();
    this.app.notFound((c) => {
      // The applicable steps differ by path only through `appliesTo`: one chain per combination.
      const applicable = this.#everyRequest.filter((step) => step.appliesTo(c.req.path));
      const key = applicable.map((step) => this.#everyRequest.indexOf(step)).join(",");
      let run = chains.get(key);
      if (run === undefined) {
        run = this.#chain(
          applicable.map((step) => step.make(unmatchedRoute)),
          answer,
        );
        chains.set(key, run);
      }
      return run(c);
    });
  }

  #stepsFor(pattern: string, route: string): Step[] {
    return this.#everyRequest.filter((step) => step.appliesTo(pattern)).map((step) => step.make(route));
  }

  /** Runs `steps` then `handler` as Hono's compose would, without a promise where none is needed. */
  #chain(steps: readonly Step[], handler: RouteHandler): (c: Context<AppEnv>) => Response | Promise<Response> {
    const onError = this.onError;
    const fail = (c: Context<AppEnv>, error: unknown): void => {
      c.res = onError(error instanceof Error ? error : new Error(String(error)), c);
    };
    const settle = (c: Context<AppEnv>, answer: unknown): void => {
      // As in Hono's compose: a returned Response is the answer unless one was set already.
      if (answer instanceof Response && !c.finalized) c.res = answer;
    };
    const run = (c: Context<AppEnv>, index: number): void | Promise<void> => {
      const step = steps[index];
      let answer: unknown;
      try {
        answer = step === undefined ? handler(c) : step(c, () => run(c, index + 1));
      } catch (error) {
        fail(c, error);
        return;
      }
      if (answer instanceof Promise) {
        return answer.then(
          (value) => settle(c, value),
          (error: unknown) => fail(c, error),
        );
      }
      settle(c, answer);
    };
    const finished = (c: Context<AppEnv>): Response => {
      if (!c.finalized) {
        return onError(new Error("No response: a step neither answered nor called next()"), c);
      }
      return c.res;
    };
    return (c) => {
      const done = run(c, 0);
      return done instanceof Promise ? done.then(() => finished(c)) : finished(c);
    };
  }
}

/**
 * A Hono middleware (such as `hono/body-limit`) as a step: it awaits `next()`, which it expects
 * to be a promise.
 */
export function stepFromHono(middleware: MiddlewareHandler<AppEnv>): Step {
  return (c, next) =>
    middleware(c, async () => {
      await next();
    });
}

/** A step as a Hono middleware, to mount one on a plain Hono app (tests do). */
export function honoMiddleware(step: Step): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const answer = await step(c, next);
    return answer instanceof Response ? answer : undefined;
  };
}
