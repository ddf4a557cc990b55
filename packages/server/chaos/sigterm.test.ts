/**
 * SIGTERM under load: requests in flight (one held at the provider mid-refresh) finish, new
 * connections are refused, the process exits 0 within a bound, and no refresh is left half-done:
 * the stored refresh token is the one the provider issued last.
 */
import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shutdownDeadlineMs } from "../src/cli/http-server.ts";
import { connectUser, createTenant, type Tenant, userToken } from "../test/support/connect-testbed.ts";
import { type AuthorizationServer, startAuthorizationServer } from "../test/support/oidc-provider.ts";
import { type ChaosBed, report, since, startChaosBed } from "./support/chaos-bed.ts";
import type { LatchkeyProcess } from "./support/latchkey-process.ts";
import { openRows, type Rows } from "./support/rows.ts";

/** A TCP connection attempt to `port`: "connected", or the error code (ECONNREFUSED). */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

describe("SIGTERM under load", () => {
  let bed: ChaosBed;
  let harness: AuthorizationServer;
  let latchkey: LatchkeyProcess;
  let tenant: Tenant;
  let rows: Rows;

  beforeAll(async () => {
    bed = await startChaosBed();
    harness = await startAuthorizationServer();
    // Every token read refreshes: a 1-hour token is always within the refresh window.
    latchkey = await bed.instance("a", { LATCHKEY_REFRESH_BEFORE_SECONDS: "3600" });
    tenant = await createTenant(latchkey, harness);
    await connectUser(latchkey, harness, tenant, await userToken(latchkey, tenant, "ada"), "ada");
    rows = openRows(bed.databaseUrl, bed.encryptionKeys);
  }, 120_000);
  afterAll(async () => {
    await rows?.close();
    await bed?.close();
    await harness?.close();
  });

  it("finishes requests in flight, refuses new connections, exits 0, leaves no refresh half-done", async () => {
    const before = await rows.connection("ada");
    harness.resetCounters();
    harness.setTokenDelay(2_000);
    const port = Number(new URL(latchkey.baseUrl).port);
    const start = performance.now();
    const inFlight = [
      ...Array.from({ length: 6 }, () =>
        latchkey.call(
          "GET",
          `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}/users/ada/token`,
          {
            token: tenant.serviceKey,
          },
        ),
      ),
    ].map((request) =>
      request.then(
        async (response) => ({
          status: response.status,
          body: (await response.json()) as { access_token?: string },
          atMs: since(start),
        }),
        (error: Error) => ({ status: 0, body: { access_token: `failed: ${error.message}` }, atMs: since(start) }),
      ),
    );
    // The refresh is at the provider (held 2 s) when the signal comes.
    await sleep(700);
    expect(harness.counters.tokenRequests).toBe(1);
    latchkey.kill("SIGTERM");
    const signalledAt = since(start);
    await sleep(300);
    const newConnection = await tryConnect(port);
    const answers = await Promise.all(inFlight);
    const exit = await latchkey.exited;
    const exitMs = Math.round(exit.atMs - start) - signalledAt;
    const after = await rows.connection("ada");
    report("sigterm", {
      in_flight: answers.length,
      completed_200: answers.filter((answer) => answer.status === 200).length,
      new_connection_after_signal: newConnection,
      exit_code: exit.code,
      exit_ms_after_signal: exitMs,
      last_answer_ms_after_signal: Math.max(...answers.map((answer) => answer.atMs)) - signalledAt,
      refresh_grants_at_provider: harness.counters.refreshGrants,
      version: `${before.row.version} -> ${after.row.version}`,
    });

    expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 200));
    expect(newConnection).toBe("ECONNREFUSED");
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exitMs).toBeLessThan(shutdownDeadlineMs);
    // It waited for the work in flight, not for idle keep-alive connections to time out.
    const lastAnswerMs = Math.max(...answers.map((answer) => answer.atMs)) - signalledAt;
    expect(exitMs - lastAnswerMs).toBeLessThan(2_000);
    // One refresh, done whole: the row moved one version, every caller got its token, and the
    // refresh token stored is the one the provider issued last (the spent one is dead).
    expect(harness.counters.refreshGrants).toBe(1);
    expect(after.row.version).toBe(before.row.version + 1);
    for (const answer of answers) expect(answer.body.access_token).toBe(after.accessToken);
    expect(after.refreshToken).not.toBe(before.refreshToken);
    expect(await harness.isRefreshTokenActive(after.refreshToken ?? "")).toBe(true);
    expect(await harness.isRefreshTokenActive(before.refreshToken ?? "")).toBe(false);
    // It closed its pool: no session of it is left on the database.
    expect(await rows.backends()).toEqual([]);
  }, 60_000);
});
