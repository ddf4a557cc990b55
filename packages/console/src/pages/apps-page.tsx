import { api } from "../api/client.ts";
import type { App } from "../api/types.ts";
import { Link } from "../router.tsx";
import { useSession } from "../session.tsx";
import { formatTime } from "../ui/format.ts";
import { Empty, Loadable } from "../ui/states.tsx";
import { useResource } from "../use-resource.ts";
import { DataTable } from "../ui/data-table.tsx";

export function AppsPage() {
  const session = useSession();
  const apps = useResource(
    () => api<{ apps: App[] }>("GET", `${session.workspacePath}/apps`).then((r) => r.apps),
    session.workspace.id,
  );
  return (
    <section aria-labelledby="apps-title">
      <div className="page-head">
        <h1 id="apps-title">Apps</h1>
        {session.isAdmin && (
          <Link to="/apps/new" className="button">
            Create an app
          </Link>
        )}
      </div>
      <p className="muted">
        Each app has its own users, allowed return origins, identity config and service keys for its backend.
      </p>
      <Loadable resource={apps} what="apps">
        {(list) =>
          list.length === 0 ? (
            <Empty>
              <p>No apps yet.</p>
              {session.isAdmin ? (
                <p>
                  <Link to="/apps/new">Create one</Link> to get a service key for your backend.
                </p>
              ) : (
                <p>An admin of the workspace creates them.</p>
              )}
            </Empty>
          ) : (
            <DataTable caption="Apps" columns={["Name", "Id", "Identity", "Return origins", "Created"]}>
              {list.map((app) => (
                <tr key={app.id}>
                  <td>
                    <Link to={`/apps/${encodeURIComponent(app.id)}`}>{app.name}</Link>
                  </td>
                  <td>
                    <code>{app.id}</code>
                  </td>
                  <td>{app.identity.type}</td>
                  <td>{app.allowed_return_origins.join(", ") || <span className="muted">none</span>}</td>
                  <td>{formatTime(app.created_at)}</td>
                </tr>
              ))}
            </DataTable>
          )
        }
      </Loadable>
    </section>
  );
}
