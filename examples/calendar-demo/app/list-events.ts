import { createClientFromRequest } from "@latchkey/sdk";

/**
 * The backend function that reads the signed-in user's calendar, written exactly as Base44's
 * connectors example (`createClientFromRequest` from `@base44/sdk`): only the import differs.
 * The request carries the user's token (`Authorization: Bearer …`); LATCHKEY_URL,
 * LATCHKEY_APP_ID and LATCHKEY_SERVICE_KEY come from the environment.
 */
export default async function listEvents(req: Request): Promise<Response> {
  const connectorId = process.env.CALENDAR_CONNECTOR_ID ?? "";
  const eventsUrl = process.env.CALENDAR_EVENTS_URL ?? "";

  const latchkey = createClientFromRequest(req);
  const { accessToken } = await latchkey.asServiceRole.connectors.getCurrentAppUserConnection(connectorId);
  const response = await fetch(eventsUrl, { headers: { Authorization: `Bearer ${accessToken}` } });

  const data = await response.json();
  return Response.json(data, { status: response.ok ? 200 : 502 });
}
