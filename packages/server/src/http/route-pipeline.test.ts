import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { describe, expect, it } from "vitest";
import type { AppEnv } from "./app-env.ts";
import { RoutePipeline, type Step, stepFromHono, unmatchedRoute } from "./route-pipeline.ts";

/** A pipeline whose every-request step records the route it was made for and tags each answer. */
function pipeline() {
  const app = new Hono<AppEnv>();
  const madeFor: string[] = [];
  const seen: string[] = [];
  const routes = new RoutePipeline(app, (error, c) => c.json({ error: error.message }, 500));
  routes.everyRequest((route) => {
    madeFor.push(route);
    return (c, next) => {
      const done = next();
      const tag = () => {
        seen.push(`${route} ${c.res.status}`);
        c.res.headers.set("x-outer", route);
      };
      if (done instanceof Promise) return done.then(tag);
      tag();
    };
  });
  return { app, routes, madeFor, seen };
}

const syncStep: Step = (c, next) => {
  c.header("x-sync", "1");
  return next();
};
const asyncStep: Step = async (_c, next) => {
  await new Promise((resolve) => setTimeout(resolve, 1));
  await next();
};

describe("RoutePipeline", () => {
  it("answers without a promise when every step and the handler return synchronously", async () => {
    const { app, routes, madeFor, seen } = pipeline();
    routes.mount("GET", "/things/:id", [syncStep], (c) => c.json({ id: c.req.param("id") }));
    const answer = app.request("/things/7");
    expect(answer).toBeInstanceOf(Response);
    const response = await answer;
    expect(await response.json()).toEqual({ id: "7" });
    expect(response.headers.get("x-outer")).toBe("/things/:id");
    expect(madeFor).toEqual(["/things/:id"]);
    expect(seen).toEqual(["/things/:id 200"]);
  });

  it("waits where a step or the handler waits, with the same answer", async () => {
    const { app, routes } = pipeline();
    routes.mount("GET", "/slow", [asyncStep], async (c) => c.text("late"));
    const answer = app.request("/slow");
    expect(answer).toBeInstanceOf(Promise);
    const response = await answer;
    expect(await response.text()).toBe("late");
    expect(response.headers.get("x-outer")).toBe("/slow");
  });

  it("turns a thrown or rejected error into onError's answer at its step, which the steps before it see", async () => {
    const { app, routes, seen } = pipeline();
    routes.mount("GET", "/throws", [syncStep], () => {
      throw new Error("sync boom");
    });
    routes.mount("GET", "/rejects", [asyncStep], async () => {
      throw new Error("async boom");
    });
    routes.mount(
      "GET",
      "/step-throws",
      [
        () => {
          throw new Error("step boom");
        },
      ],
      (c) => c.text("never"),
    );
    for (const [path, message] of [
      ["/throws", "sync boom"],
      ["/rejects", "async boom"],
      ["/step-throws", "step boom"],
    ] as const) {
      const response = await app.request(path);
      expect(response.status).toBe(500);
      expect(await response.json()).toEqual({ error: message });
      expect(response.headers.get("x-outer")).toBe(path);
    }
    expect(seen).toEqual(["/throws 500", "/rejects 500", "/step-throws 500"]);
  });

  it("takes a step's own answer without running what follows it, and keeps an answer already set", async () => {
    const { app, routes } = pipeline();
    let handlerRan = false;
    routes.mount("GET", "/short", [(c) => c.text("from the step", 203)], (c) => {
      handlerRan = true;
      return c.text("from the handler");
    });
    // A step returning a Response after next() already produced one does not replace it (Hono's rule).
    routes.mount(
      "GET",
      "/late-answer",
      [
        async (c, next) => {
          await next();
          return c.text("too late", 418);
        },
      ],
      (c) => c.text("first"),
    );
    const short = await app.request("/short");
    expect(short.status).toBe(203);
    expect(await short.text()).toBe("from the step");
    expect(handlerRan).toBe(false);
    const late = await app.request("/late-answer");
    expect(late.status).toBe(200);
    expect(await late.text()).toBe("first");
  });

  it("answers 500 through onError when a step neither answers nor calls next()", async () => {
    const { app, routes } = pipeline();
    routes.mount("GET", "/stuck", [() => undefined], (c) => c.text("never"));
    const response = await app.request("/stuck");
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ error: "No response: a step neither answered nor called next()" });
  });

  it("runs a step for every request only on the routes and unmatched paths it applies to", async () => {
    const app = new Hono<AppEnv>();
    const routes = new RoutePipeline(app, (error, c) => c.json({ error: error.message }, 500));
    routes.everyRequest(
      () => (c, next) => {
        if (c.req.method === "OPTIONS") return c.body(null, 204);
        c.header("x-api", "yes");
        return next();
      },
      (patternOrPath) => patternOrPath.startsWith("/api/"),
    );
    routes.mount("GET", "/api/items", [], (c) => c.text("items"));
    routes.mount("GET", "/page", [], (c) => c.text("page"));
    routes.mountNotFound((c) => c.text(`no ${c.req.path}`, 404));

    expect((await app.request("/api/items")).headers.get("x-api")).toBe("yes");
    expect((await app.request("/page")).headers.get("x-api")).toBeNull();
    const unmatchedApi = await app.request("/api/nothing");
    expect(unmatchedApi.status).toBe(404);
    expect(unmatchedApi.headers.get("x-api")).toBe("yes");
    const unmatchedOther = await app.request("/nothing");
    expect(unmatchedOther.status).toBe(404);
    expect(unmatchedOther.headers.get("x-api")).toBeNull();
    // A preflight to a path with no OPTIONS route is answered by the step.
    expect((await app.request("/api/items", { method: "OPTIONS" })).status).toBe(204);
    expect((await app.request("/page", { method: "OPTIONS" })).status).toBe(404);
  });

  it("makes the every-request steps of unmatched requests for the `unmatched` route", async () => {
    const { app, routes, madeFor, seen } = pipeline();
    routes.mountNotFound(() => {
      throw new Error("no route");
    });
    const response = await app.request("/anything");
    expect(response.status).toBe(500);
    expect(madeFor).toEqual([unmatchedRoute]);
    expect(seen).toEqual([`${unmatchedRoute} 500`]);
  });

  it("refuses a step for every request once a route is mounted (it would miss that route)", () => {
    const { routes } = pipeline();
    routes.mount("GET", "/a", [], (c) => c.text("a"));
    expect(() => routes.everyRequest(() => (_c, next) => next())).toThrow(/before the first route/);
  });

  it("runs a Hono middleware as a step (hono/body-limit)", async () => {
    const { app, routes } = pipeline();
    const limit = stepFromHono(bodyLimit({ maxSize: 8, onError: (c) => c.text("too large", 413) }));
    routes.mount("POST", "/upload", [limit], async (c) => c.text(`got ${(await c.req.text()).length}`));
    const small = await app.request("/upload", { method: "POST", body: "1234" });
    expect(await small.text()).toBe("got 4");
    const large = await app.request("/upload", {
      method: "POST",
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode("0123456789abcdef"));
          controller.close();
        },
      }),
      duplex: "half",
    } as RequestInit);
    expect(large.status).toBe(413);
  });
});
