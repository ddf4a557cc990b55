/**
 * `npm run demo`: Latchkey (embedded), a demo OAuth provider with a calendar API, and the
 * calendar app, all on this machine; prints the one URL to open and the console's setup link.
 * Ctrl+C stops everything and deletes the demo's data. Ports: DEMO_LATCHKEY_PORT (4410),
 * DEMO_PROVIDER_PORT (4411), DEMO_APP_PORT (4412).
 */
import { ensureConsoleBuilt } from "../../../packages/console/scripts/ensure-built.ts";
import { defaultPorts, type DemoPorts, type RunningDemo, startDemo } from "./stack.ts";

function port(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    console.error(`${name} must be a port number (1-65535), got "${raw}"`);
    process.exit(2);
  }
  return value;
}

const ports: DemoPorts = {
  latchkey: port("DEMO_LATCHKEY_PORT", defaultPorts.latchkey),
  provider: port("DEMO_PROVIDER_PORT", defaultPorts.provider),
  app: port("DEMO_APP_PORT", defaultPorts.app),
};

console.log("Starting the Latchkey calendar demo…");
ensureConsoleBuilt((line) => console.log(line));

let demo: RunningDemo;
try {
  demo = await startDemo({ ports, logLevel: process.env.LOG_LEVEL || "warn" });
} catch (error) {
  console.error(`\nThe demo could not start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
// performance.now() counts from this process's start, so this includes loading Node and TypeScript.
const readySeconds = (performance.now() / 1000).toFixed(1);

console.log(`
Latchkey calendar demo is ready (started in ${readySeconds} s).

  Open ${demo.appUrl}

  Sign in with any name, click "Connect calendar", sign in at Demo Calendar (a demo
  provider on this machine: any account name, no password), allow access, and your
  events appear, read by the app's backend with the token Latchkey keeps for you.

  Running here: Latchkey on port ${ports.latchkey} (embedded database, deleted on exit),
  the demo provider on port ${ports.provider}, the calendar app on port ${ports.app}.

  Admin console (${demo.latchkeyUrl}/console/): set the password of ${demo.tenant.adminEmail}
  with this one-time link, then see the connection under Connections:

      ${demo.tenant.setupUrl}

Stop with Ctrl+C.
`);

let stopping = false;
const stop = (signal: NodeJS.Signals) => {
  if (stopping) {
    console.log("Stopping at once.");
    process.exit(1);
  }
  stopping = true;
  console.log(`\n${signal === "SIGINT" ? "Ctrl+C" : signal}: stopping the demo…`);
  demo.close().then(
    () => {
      console.log("Demo stopped; its data is deleted.");
      process.exit(0);
    },
    (error: unknown) => {
      console.error("The demo did not stop cleanly:", error);
      process.exit(1);
    },
  );
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
