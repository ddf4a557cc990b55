/**
 * Webhook receiver down (and PostgreSQL restarted while webhooks are due): no webhook lost,
 * retried with backoff once the receiver is back.
 *
 * TODO(webhooks): webhooks are being built in parallel by another engineer. These cases are
 * todo, not passes: `npm run chaos` lists them as TODO and counts them in neither total. Write
 * them against the real process (chaos-bed.ts) once the webhook routes and delivery land.
 */
import { describe, it } from "vitest";

describe("webhook receiver down", () => {
  it.todo("TODO(webhooks): a receiver answering 5xx or refusing connections gets every event once it is back");
  it.todo("TODO(webhooks): no webhook is lost across a PostgreSQL stop/start while deliveries are due");
  it.todo("TODO(webhooks): kill -9 of the delivering instance: another instance delivers the event");
});
