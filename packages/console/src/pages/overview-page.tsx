import { appUserConnectorsMinimumPlan, planAtLeast, plans } from "@latchkey/contracts";
import { api } from "../api/client.ts";
import type { App, Connector, Plan } from "../api/types.ts";
import { Link } from "../router.tsx";
import { useSession } from "../session.tsx";
import { useResource } from "../use-resource.ts";
import { Loadable } from "../ui/states.tsx";
import { type ConnectionCounts, loadConnectionCounts } from "./connection-counts.ts";

interface PlanFeature {
  name: string;
  description: string;
  minimum: Plan;
}

const features: PlanFeature[] = [
  {
    name: "Connectors and shared connections",
    description: "Register OAuth clients; each app keeps one shared connection per connector.",
    minimum: "free",
  },
  {
    name: "App-user connectors",
    description:
      "Every signed-in user of your apps connects their own account; your backend fetches that user's token.",
    minimum: appUserConnectorsMinimumPlan,
  },
];

export function OverviewPage() {
  const session = useSession();
  const { workspace } = session;
  const summary = useResource(async () => {
    const [connectors, apps, counts] = await Promise.all([
      api<{ connectors: Connector[] }>("GET", `${session.workspacePath}/connectors`),
      api<{ apps: App[] }>("GET", `${session.workspacePath}/apps`),
      loadConnectionCounts(session.workspacePath),
    ]);
    return { connectors: connectors.connectors, apps: apps.apps, counts };
  }, workspace.id);

  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">{workspace.name}</h1>
      <p className="muted">
        Workspace <code>{workspace.id}</code>
      </p>

      <h2>Plan</h2>
      <p>
        This workspace is on the <strong className={`badge plan-${workspace.plan}`}>{workspace.plan}</strong> plan.
        Plans, lowest first: {plans.join(", ")}. The operator of this Latchkey server sets it.
      </p>
      <ul className="features" aria-label="What the plan allows">
        {features.map((feature) => {
          const included = planAtLeast(workspace.plan, feature.minimum);
          return (
            <li key={feature.name} className={included ? "feature" : "feature feature-off"} aria-disabled={!included}>
              <span className="feature-mark" aria-hidden="true">
                {included ? "✓" : "✕"}
              </span>
              <div>
                <strong>{feature.name}</strong>
                <span className="sr-only">{included ? " (included)" : " (not included)"}</span>
                <p>{feature.description}</p>
                {!included && (
                  <p className="why">
                    Needs the <strong>{feature.minimum}</strong> plan or higher; this workspace is on{" "}
                    <strong>{workspace.plan}</strong>. App users who try to connect get <code>402 PLAN_REQUIRED</code>.
                    Ask your Latchkey operator to change the plan.
                  </p>
                )}
              </div>
            </li>
          );
        })}
      </ul>

      <h2>At a glance</h2>
      <Loadable resource={summary} what="the workspace summary">
        {(data) => (
          <div className="tiles">
            <Tile label="Connectors" value={data.connectors.length} to="/connectors" />
            <Tile label="Apps" value={data.apps.length} to="/apps" />
            <CountsTile counts={data.counts} />
          </div>
        )}
      </Loadable>
      {session.isAdmin ? (
        <p>
          Next steps: <Link to="/connectors/new">register a connector</Link>, then{" "}
          <Link to="/apps/new">create an app</Link> and give its service key to your backend.
        </p>
      ) : (
        <p className="muted">You are a member of this workspace: you can look at everything; admins make changes.</p>
      )}
    </section>
  );
}

function Tile({ label, value, to }: { label: string; value: number | string; to: string }) {
  return (
    <Link to={to} className="tile">
      <span className="tile-value">{value}</span>
      <span className="tile-label">{label}</span>
    </Link>
  );
}

function CountsTile({ counts }: { counts: ConnectionCounts | null }) {
  if (!counts) return <Tile label="Connections" value="—" to="/connections" />;
  return (
    <Link to="/connections" className="tile">
      <span className="tile-value">{counts.active + counts.needs_reauth}</span>
      <span className="tile-label">
        Connections: {counts.active} active, {counts.needs_reauth} need reauth
      </span>
    </Link>
  );
}
