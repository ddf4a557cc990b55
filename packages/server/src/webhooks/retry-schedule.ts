import type { WebhookConfig } from "../config/config.ts";

/**
 * How long to wait after the `attempts`-th failed attempt: the first wait is at most
 * `firstRetryMs`, each next one up to twice the previous, capped at `maxRetryIntervalMs`. Full
 * jitter over the upper half ([½, 1] of the step) keeps receivers coming back from an outage from
 * being hit by every sender at once, while the schedule still roughly doubles.
 */
export function retryDelayMs(
  attempts: number,
  config: Pick<WebhookConfig, "firstRetryMs" | "maxRetryIntervalMs">,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(attempts - 1, 0), 30);
  const step = Math.min(config.maxRetryIntervalMs, config.firstRetryMs * 2 ** exponent);
  return Math.round(step * (0.5 + random() / 2));
}
