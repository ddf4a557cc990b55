import { type ReactElement, useEffect, useRef } from "react";
import { AccountPage } from "./pages/account-page.tsx";
import { AppPage } from "./pages/app-page.tsx";
import { AppsPage } from "./pages/apps-page.tsx";
import { AuditPage } from "./pages/audit-page.tsx";
import { ConnectionsPage } from "./pages/connections-page.tsx";
import { ConnectorPage } from "./pages/connector-page.tsx";
import { ConnectorsPage } from "./pages/connectors-page.tsx";
import { MembersPage } from "./pages/members-page.tsx";
import { NewAppPage } from "./pages/new-app-page.tsx";
import { NewConnectorPage } from "./pages/new-connector-page.tsx";
import { OverviewPage } from "./pages/overview-page.tsx";
import { SetupPage } from "./pages/setup-page.tsx";
import { SignInPage } from "./pages/sign-in-page.tsx";
import { Link, matchPath, usePath } from "./router.tsx";
import { useSession, useSessionState } from "./session.tsx";
import { ErrorBox, Loading } from "./ui/states.tsx";

interface Screen {
  pattern: string;
  title: string;
  adminOnly?: boolean;
  render: (params: Record<string, string>) => ReactElement;
}

const screens: Screen[] = [
  { pattern: "/", title: "Overview", render: () => <OverviewPage /> },
  { pattern: "/connectors", title: "Connectors", render: () => <ConnectorsPage /> },
  { pattern: "/connectors/new", title: "New connector", adminOnly: true, render: () => <NewConnectorPage /> },
  { pattern: "/connectors/:id", title: "Connector", render: (p) => <ConnectorPage id={p.id ?? ""} /> },
  { pattern: "/apps", title: "Apps", render: () => <AppsPage /> },
  { pattern: "/apps/new", title: "New app", adminOnly: true, render: () => <NewAppPage /> },
  { pattern: "/apps/:id", title: "App", render: (p) => <AppPage id={p.id ?? ""} /> },
  { pattern: "/connections", title: "Connections", render: () => <ConnectionsPage /> },
  { pattern: "/members", title: "Members", adminOnly: true, render: () => <MembersPage /> },
  { pattern: "/audit", title: "Audit log", render: () => <AuditPage /> },
  { pattern: "/account", title: "Your account", render: () => <AccountPage /> },
];

const nav: { to: string; label: string; adminOnly?: boolean }[] = [
  { to: "/", label: "Overview" },
  { to: "/connectors", label: "Connectors" },
  { to: "/apps", label: "Apps" },
  { to: "/connections", label: "Connections" },
  { to: "/members", label: "Members", adminOnly: true },
  { to: "/audit", label: "Audit log" },
  { to: "/account", label: "Your account" },
];

export function App() {
  const { state, refresh } = useSessionState();
  const path = usePath();
  if (path === "/setup") return <SetupPage />;
  if (state.status === "loading") {
    return (
      <main className="centered">
        <Loading what="the console" />
      </main>
    );
  }
  if (state.status === "error") {
    return (
      <main className="centered">
        <h1>Latchkey console</h1>
        <ErrorBox error={state.error} retry={() => void refresh()} />
      </main>
    );
  }
  if (state.status === "signed-out") return <SignInPage {...(state.reason ? { notice: state.reason } : {})} />;
  return <Shell path={path} />;
}

function Shell({ path }: { path: string }) {
  const session = useSession();
  const { signOut } = useSessionState();
  const mainRef = useRef<HTMLElement>(null);
  const found = findScreen(path === "/sign-in" ? "/" : path);
  const title = found?.screen.title ?? "Not found";

  useEffect(() => {
    document.title = `${title} · ${session.workspace.name} · Latchkey`;
  }, [title, session.workspace.name]);

  const section = (to: string) => (to === "/" ? path === "/" : path === to || path.startsWith(`${to}/`));

  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/" className="brand">
          Latchkey
        </Link>
        <span className="workspace-name">
          {session.workspace.name}{" "}
          <span className={`badge plan-${session.workspace.plan}`}>{session.workspace.plan}</span>
        </span>
        <span className="spacer" />
        <span className="who">
          {session.member.email} <span className="badge">{session.member.role}</span>
        </span>
        <button type="button" className="secondary small-button" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <nav className="sidebar" aria-label="Console sections">
        <ul>
          {nav
            .filter((item) => !item.adminOnly || session.isAdmin)
            .map((item) => (
              <li key={item.to}>
                <Link to={item.to} aria-current={section(item.to) ? "page" : undefined}>
                  {item.label}
                </Link>
              </li>
            ))}
        </ul>
      </nav>
      <main id="main" ref={mainRef} tabIndex={-1}>
        {!found ? (
          <NotFound />
        ) : found.screen.adminOnly && !session.isAdmin ? (
          <AdminsOnly title={found.screen.title} />
        ) : (
          found.screen.render(found.params)
        )}
      </main>
    </div>
  );
}

function findScreen(path: string): { screen: Screen; params: Record<string, string> } | null {
  for (const screen of screens) {
    const params = matchPath(screen.pattern, path);
    if (params) return { screen, params };
  }
  return null;
}

function NotFound() {
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        This page does not exist. <Link to="/">Back to the overview</Link>.
      </p>
    </section>
  );
}

function AdminsOnly({ title }: { title: string }) {
  return (
    <section>
      <h1>{title}</h1>
      <div className="state state-error" role="alert" data-testid="admins-only">
        <p>Only workspace admins can open this page. Ask an admin of your workspace if you need a change.</p>
      </div>
    </section>
  );
}
