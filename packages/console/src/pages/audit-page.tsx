import { useState } from "react";
import { ApiError, api } from "../api/client.ts";
import type { AuditEvent } from "../api/types.ts";
import { useSession } from "../session.tsx";
import { formatTime } from "../ui/format.ts";
import { Empty, ErrorBox, Loadable } from "../ui/states.tsx";
import { useResource } from "../use-resource.ts";
import { DataTable } from "../ui/data-table.tsx";

interface AuditPage {
  events: AuditEvent[];
  next_cursor?: string | null;
}

/** `GET …/audit-events`: null when this server has no audit log yet (an older version: 404/405). */
async function loadAudit(path: string, cursor?: string): Promise<AuditPage | null> {
  try {
    return await api<AuditPage>("GET", path, undefined, { query: { cursor } });
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405) && !cursor) return null;
    throw error;
  }
}

export function AuditPage() {
  const session = useSession();
  const path = `${session.workspacePath}/audit-events`;
  const first = useResource(() => loadAudit(path), path);
  const [more, setMore] = useState<{ events: AuditEvent[]; cursor: string | null; error: unknown } | null>(null);

  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit log</h1>
      <p className="muted">Admin actions and connection events, newest first. Never a secret.</p>
      <Loadable resource={first} what="the audit log">
        {(page) => {
          if (!page) {
            return (
              <Empty>
                <p data-testid="audit-unavailable">
                  The audit log is not available on this Latchkey server: it is an older version. Upgrade the server to
                  see who changed what.
                </p>
              </Empty>
            );
          }
          const events = [...page.events, ...(more?.events ?? [])];
          const cursor = more ? more.cursor : (page.next_cursor ?? null);
          if (events.length === 0) return <Empty>Nothing has happened in this workspace yet.</Empty>;
          return (
            <>
              <div className="table-scroll">
                <DataTable caption="Audit events" columns={["Time", "Actor", "Action", "Target", "Request id"]}>
                  {events.map((event) => (
                    <tr key={event.id}>
                      <td>{formatTime(event.created_at ?? event.time)}</td>
                      <td>{describe(event.actor)}</td>
                      <td>
                        <code>{event.action}</code>
                      </td>
                      <td>{describe(event.target)}</td>
                      <td>
                        <code className="small">{event.request_id ?? "—"}</code>
                      </td>
                    </tr>
                  ))}
                </DataTable>
              </div>
              {more?.error ? <ErrorBox error={more.error} /> : null}
              {cursor && (
                <button
                  type="button"
                  className="secondary"
                  onClick={async () => {
                    try {
                      const next = await loadAudit(path, cursor);
                      setMore((current) => ({
                        events: [...(current?.events ?? []), ...(next?.events ?? [])],
                        cursor: next?.next_cursor ?? null,
                        error: null,
                      }));
                    } catch (error) {
                      setMore((current) => ({ events: current?.events ?? [], cursor, error }));
                    }
                  }}
                >
                  Load older events
                </button>
              )}
            </>
          );
        }}
      </Loadable>
    </section>
  );
}

/** An actor or target as text, whatever shape the audit route gives it. */
function describe(value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "string") return value;
  if (typeof value === "object") {
    const record = value as Record<string, unknown>;
    const parts = ["type", "email", "id", "name"]
      .map((key) => record[key])
      .filter((part): part is string => typeof part === "string");
    return parts.length > 0 ? parts.join(" ") : JSON.stringify(value);
  }
  return String(value);
}
