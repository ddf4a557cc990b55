import { ApiError, api } from "../api/client.ts";

export interface ConnectionCounts {
  active: number;
  needs_reauth: number;
}

/** `GET …/connection-counts`; null from a server without that route. */
export async function loadConnectionCounts(workspacePath: string): Promise<ConnectionCounts | null> {
  try {
    const { counts } = await api<{ counts: ConnectionCounts }>("GET", `${workspacePath}/connection-counts`);
    return counts;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) return null;
    throw error;
  }
}
