import { describe, expect, it } from "vitest";
import { connectTestbed, json } from "./support/connect-testbed.ts";
import { testDbKind } from "./support/test-database.ts";

/**
 * The token hot path end to end inside the app: once an answer is in the token cache, the request
 * runs from Hono's dispatch to the Response without a promise (http/route-pipeline.ts), so
 * @hono/node-server writes it in the same tick. A step or handler that waits where it need not
 * (an `async` middleware, an `await` on a cached value) makes `app.fetch` return a promise again.
 */
describe(`token hot path (${testDbKind()})`, () => {
  // The test app turns the service-key cache off (every other suite sees revocations at once); on here, as served.
  const bed = connectTestbed({ env: { LATCHKEY_SERVICE_KEY_CACHE_SECONDS: "5" } });

  const namedPath = (userId: string) =>
    `/api/apps/${bed.tenant.appId}/app-user-auth/connectors/${bed.tenant.connectorId}/users/${userId}/token`;
  let namedReads = 0;

  /** Requests until the app answers one without a promise (at most 50); returns that answer. */
  async function untilSynchronous(path: string, headers: Record<string, string>): Promise<Response> {
    for (let read = 0; read < 50; read++) {
      const answer = bed.t.app.request(path, { headers });
      if (path === namedPath("hot-user")) namedReads++;
      if (answer instanceof Response) return answer;
      expect((await answer).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    throw new Error(`${path}: still answered through a promise after 50 requests`);
  }

  const currentPath = () => `/api/apps/${bed.tenant.appId}/app-user-auth/connectors/${bed.tenant.connectorId}/token`;

  it("answers a cached token synchronously on both token routes, with the same body, headers and metrics as a read", async () => {
    const userToken = await bed.tokenOf("hot-user");
    const back = await bed.connect(userToken, "hot-login");
    expect(back.searchParams.get("latchkey_status")).toBe("connected");
    const service = { authorization: `Bearer ${bed.tenant.serviceKey}` };

    // First read: the database, so a promise; it fills the caches (service key, token).
    const first = bed.t.app.request(namedPath("hot-user"), { headers: service });
    namedReads++;
    expect(first).toBeInstanceOf(Promise);
    const read = await json<{ access_token: string }>(await first, 200);
    // A fill is skipped when a change notification arrives during its read (on PostgreSQL those of
    // the connect may still be on their way), so it may take a few reads.
    await untilSynchronous(namedPath("hot-user"), service);

    for (let i = 0; i < 20; i++) {
      const cached = bed.t.app.request(namedPath("hot-user"), {
        headers: { ...service, "x-request-id": `hot-path-${i}` },
      });
      namedReads++;
      expect(cached).toBeInstanceOf(Response);
      const response = await cached;
      expect(response.headers.get("x-request-id")).toBe(`hot-path-${i}`);
      expect(response.headers.get("access-control-allow-origin")).toBe("*");
      expect(response.headers.get("cache-control")).toBe("no-store");
      expect(await json<{ access_token: string }>(response, 200)).toEqual(read);
    }

    // on-behalf-of: the user token's verification is memoized after its first use.
    const onBehalf = { ...service, "on-behalf-of": `Bearer ${userToken}` };
    expect(await json(await untilSynchronous(currentPath(), onBehalf), 200)).toEqual(read);
    const cachedOnBehalf = bed.t.app.request(currentPath(), { headers: onBehalf });
    expect(cachedOnBehalf).toBeInstanceOf(Response);
    expect(await json(await cachedOnBehalf, 200)).toEqual(read);

    // Each answer counted once, under its route pattern, as any other request.
    const metrics = await bed.t.metrics.render();
    const route = "/api/apps/:appId/app-user-auth/connectors/:connectorId/users/:userId/token";
    const counted = new RegExp(`latchkey_http_requests_total\\{method="GET",route="${route}",status="200"\\} (\\d+)`);
    expect(Number(counted.exec(metrics)?.[1])).toBe(namedReads);
  });

  it("answers a bad request synchronously too, with the error envelope and the request's headers", async () => {
    const answer = bed.t.app.request(namedPath("hot-user"), {
      headers: { authorization: `Bearer ${bed.tenant.serviceKey}`, "x-app-id": "app_someone_else" },
    });
    expect(answer).toBeInstanceOf(Response);
    const response = await answer;
    expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(await json<{ error: { code: string } }>(response, 400)).toMatchObject({
      error: { code: "INVALID_REQUEST" },
    });
  });
});
