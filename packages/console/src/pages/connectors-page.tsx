import { api } from "../api/client.ts";
import type { Connector } from "../api/types.ts";
import { Link } from "../router.tsx";
import { useSession } from "../session.tsx";
import { Empty, Loadable } from "../ui/states.tsx";
import { formatTime } from "../ui/format.ts";
import { useResource } from "../use-resource.ts";
import { DataTable } from "../ui/data-table.tsx";

export function ConnectorsPage() {
  const session = useSession();
  const connectors = useResource(
    () => api<{ connectors: Connector[] }>("GET", `${session.workspacePath}/connectors`).then((r) => r.connectors),
    session.workspace.id,
  );
  return (
    <section aria-labelledby="connectors-title">
      <div className="page-head">
        <h1 id="connectors-title">Connectors</h1>
        {session.isAdmin && (
          <Link to="/connectors/new" className="button">
            Register a connector
          </Link>
        )}
      </div>
      <p className="muted">OAuth client credentials your apps' users connect through, one per provider app.</p>
      <Loadable resource={connectors} what="connectors">
        {(list) =>
          list.length === 0 ? (
            <Empty>
              <p>No connectors yet.</p>
              {session.isAdmin ? (
                <p>
                  <Link to="/connectors/new">Register the first one</Link>: pick a provider, paste the client id and
                  secret from its developer console.
                </p>
              ) : (
                <p>An admin of the workspace registers them.</p>
              )}
            </Empty>
          ) : (
            <DataTable caption="Connectors" columns={["Name", "Provider", "Id", "Status", "Scopes", "Updated"]}>
              {list.map((connector) => (
                <tr key={connector.id}>
                  <td>
                    <Link to={`/connectors/${encodeURIComponent(connector.id)}`}>{connector.name}</Link>
                  </td>
                  <td>{connector.provider}</td>
                  <td>
                    <code>{connector.id}</code>
                  </td>
                  <td>
                    <span className={`badge status-${connector.status}`}>{connector.status}</span>
                  </td>
                  <td className="scopes">{connector.scopes.join(" ") || <span className="muted">default</span>}</td>
                  <td>{formatTime(connector.updated_at)}</td>
                </tr>
              ))}
            </DataTable>
          )
        }
      </Loadable>
    </section>
  );
}
