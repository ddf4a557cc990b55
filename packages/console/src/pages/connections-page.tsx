import { type FormEvent, useState } from "react";
import { api } from "../api/client.ts";
import type { App, ConnectionInfo, Connector } from "../api/types.ts";
import { useSession } from "../session.tsx";
import { ConfirmDialog } from "../ui/confirm-dialog.tsx";
import { formatTime, relativeTime } from "../ui/format.ts";
import { Empty, ErrorBox, Loadable } from "../ui/states.tsx";
import { useResource } from "../use-resource.ts";
import { loadConnectionCounts } from "./connection-counts.ts";
import { DataTable } from "../ui/data-table.tsx";

interface Filters {
  app_id: string;
  connector_id: string;
  user_id: string;
  status: string;
}

const noFilters: Filters = { app_id: "", connector_id: "", user_id: "", status: "" };

interface Page {
  connections: ConnectionInfo[];
  next_cursor: string | null;
}

export function ConnectionsPage() {
  const session = useSession();
  const ws = session.workspacePath;
  const [draft, setDraft] = useState<Filters>(noFilters);
  const [filters, setFilters] = useState<Filters>(noFilters);
  const [more, setMore] = useState<{ rows: ConnectionInfo[]; cursor: string | null; error: unknown } | null>(null);
  const [revoking, setRevoking] = useState<ConnectionInfo | null>(null);

  const lookups = useResource(async () => {
    const [apps, connectors] = await Promise.all([
      api<{ apps: App[] }>("GET", `${ws}/apps`),
      api<{ connectors: Connector[] }>("GET", `${ws}/connectors`),
    ]);
    return { apps: apps.apps, connectors: connectors.connectors };
  }, ws);
  const counts = useResource(() => loadConnectionCounts(ws), ws);
  const page = useResource(
    () => api<Page>("GET", `${ws}/connections`, undefined, { query: { ...filters, limit: 50 } }),
    JSON.stringify(filters),
  );

  const apply = (event: FormEvent) => {
    event.preventDefault();
    setMore(null);
    setFilters({ ...draft, user_id: draft.user_id.trim() });
  };
  const reset = () => {
    setDraft(noFilters);
    setMore(null);
    setFilters(noFilters);
  };
  const loadMore = async (cursor: string) => {
    try {
      const next = await api<Page>("GET", `${ws}/connections`, undefined, { query: { ...filters, limit: 50, cursor } });
      setMore((current) => ({
        rows: [...(current?.rows ?? []), ...next.connections],
        cursor: next.next_cursor,
        error: null,
      }));
    } catch (error) {
      setMore((current) => ({ rows: current?.rows ?? [], cursor, error }));
    }
  };

  const appName = (id: string) =>
    lookups.state === "ready" ? (lookups.data.apps.find((a) => a.id === id)?.name ?? id) : id;
  const connectorName = (id: string) =>
    lookups.state === "ready" ? (lookups.data.connectors.find((c) => c.id === id)?.name ?? id) : id;
  const set = (name: keyof Filters) => (event: { target: { value: string } }) =>
    setDraft((current) => ({ ...current, [name]: event.target.value }));

  return (
    <section aria-labelledby="connections-title">
      <h1 id="connections-title">Connections</h1>
      <p className="muted">App users' (and apps' shared) authorizations. Tokens are never shown here.</p>
      {counts.state === "ready" && counts.data && (
        <ul className="counts" aria-label="Connections per status">
          <li>
            <span className="badge status-active">active</span> {counts.data.active}
          </li>
          <li>
            <span className="badge status-needs_reauth">needs reauth</span> {counts.data.needs_reauth}
          </li>
        </ul>
      )}
      <form className="filters" onSubmit={apply} aria-label="Filter connections">
        <div className="field">
          <label htmlFor="filter-app">App</label>
          <select id="filter-app" value={draft.app_id} onChange={set("app_id")}>
            <option value="">All apps</option>
            {lookups.state === "ready" &&
              lookups.data.apps.map((app) => (
                <option key={app.id} value={app.id}>
                  {app.name}
                </option>
              ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="filter-connector">Connector</label>
          <select id="filter-connector" value={draft.connector_id} onChange={set("connector_id")}>
            <option value="">All connectors</option>
            {lookups.state === "ready" &&
              lookups.data.connectors.map((connector) => (
                <option key={connector.id} value={connector.id}>
                  {connector.name}
                </option>
              ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="filter-user">App user id</label>
          <input id="filter-user" value={draft.user_id} onChange={set("user_id")} placeholder="user_123" />
        </div>
        <div className="field">
          <label htmlFor="filter-status">Status</label>
          <select id="filter-status" value={draft.status} onChange={set("status")}>
            <option value="">Any status</option>
            <option value="active">active</option>
            <option value="needs_reauth">needs reauth</option>
          </select>
        </div>
        <div className="actions">
          <button type="submit">Filter</button>
          <button type="button" className="secondary" onClick={reset}>
            Clear
          </button>
        </div>
      </form>
      <Loadable resource={page} what="connections">
        {(data) => {
          const rows = [...data.connections, ...(more?.rows ?? [])];
          const cursor = more ? more.cursor : data.next_cursor;
          if (rows.length === 0) {
            return (
              <Empty>
                {filters === noFilters
                  ? "No connections yet: they appear when app users connect an account."
                  : "No connection matches these filters."}
              </Empty>
            );
          }
          return (
            <>
              <div className="table-scroll">
                <DataTable
                  caption="Connections"
                  columns={["Owner", "App", "Connector", "Account", "Scopes", "Status", "Expires", "Last refresh"]}
                  actions={session.isAdmin}
                >
                  {rows.map((row) => (
                    <tr key={row.id}>
                      <td>{row.owner_type === "app" ? <em>shared (app)</em> : <code>{row.user_id}</code>}</td>
                      <td>{appName(row.app_id)}</td>
                      <td>{connectorName(row.connector_id)}</td>
                      <td>{row.account?.email ?? row.account?.name ?? row.account?.id ?? "—"}</td>
                      <td className="scopes">{row.scopes.join(" ") || "—"}</td>
                      <td>
                        <span className={`badge status-${row.status}`}>{row.status.replace("_", " ")}</span>
                        {row.needs_reauth_reason && <div className="small why">{row.needs_reauth_reason}</div>}
                      </td>
                      <td title={formatTime(row.expires_at)}>{relativeTime(row.expires_at)}</td>
                      <td>{formatTime(row.refreshed_at)}</td>
                      {session.isAdmin && (
                        <td>
                          <button type="button" className="danger small-button" onClick={() => setRevoking(row)}>
                            Revoke<span className="sr-only"> connection {row.id}</span>
                          </button>
                        </td>
                      )}
                    </tr>
                  ))}
                </DataTable>
              </div>
              {more?.error ? <ErrorBox error={more.error} /> : null}
              {cursor && (
                <button type="button" className="secondary" onClick={() => void loadMore(cursor)}>
                  Load more
                </button>
              )}
            </>
          );
        }}
      </Loadable>
      {revoking && (
        <ConfirmDialog
          title="Revoke this connection?"
          confirmLabel="Revoke connection"
          onClose={() => setRevoking(null)}
          onConfirm={async () => {
            await api("DELETE", `${ws}/connections/${encodeURIComponent(revoking.id)}`);
            setMore(null);
            page.reload();
            counts.reload();
          }}
        >
          <p>
            Latchkey revokes the grant at the provider where it can and forgets the tokens of{" "}
            {revoking.owner_type === "app" ? "the app's shared connection" : <code>{revoking.user_id}</code>} to{" "}
            {connectorName(revoking.connector_id)}. The user has to connect again.
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}
