/**
 * Resolves on the first SIGINT or SIGTERM. Installed before start-up, so a signal during a slow
 * start still ends in an orderly close; a second signal means "now" and exits at once.
 */
export function stopSignal(): { stopped: Promise<NodeJS.Signals>; dispose(): void } {
  let resolveStopped!: (signal: NodeJS.Signals) => void;
  const stopped = new Promise<NodeJS.Signals>((resolve) => (resolveStopped = resolve));
  let received = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (received) {
      process.stderr.write(`Received ${signal} again: exiting immediately.\n`);
      process.exit(130);
    }
    received = true;
    resolveStopped(signal);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    stopped,
    dispose: () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}
