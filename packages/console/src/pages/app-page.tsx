import { useState } from "react";
import { api } from "../api/client.ts";
import type { App, ServiceKeyInfo, TokenTestResult } from "../api/types.ts";
import { Link, navigate } from "../router.tsx";
import { useSession } from "../session.tsx";
import { ConfirmDialog } from "../ui/confirm-dialog.tsx";
import { Facts } from "../ui/facts.tsx";
import { formatTime, splitLines } from "../ui/format.ts";
import { SecretOnce } from "../ui/secret-once.tsx";
import { Empty, FormError, Loadable } from "../ui/states.tsx";
import { SubmitButton } from "../ui/submit-button.tsx";
import { useSubmit } from "../use-submit.ts";
import { useResource } from "../use-resource.ts";
import { draftFrom, IdentityFields, identityInput } from "./identity-fields.tsx";
import { DataTable } from "../ui/data-table.tsx";

export function AppPage({ id }: { id: string }) {
  const session = useSession();
  const path = `${session.workspacePath}/apps/${encodeURIComponent(id)}`;
  const app = useResource(() => api<{ app: App }>("GET", path).then((r) => r.app), id);
  return (
    <section aria-labelledby="app-title">
      <p className="crumbs">
        <Link to="/apps">Apps</Link> /
      </p>
      <Loadable resource={app} what="the app">
        {(data) => <AppDetail app={data} path={path} reload={app.reload} />}
      </Loadable>
    </section>
  );
}

function AppDetail({ app, path, reload }: { app: App; path: string; reload: () => void }) {
  const session = useSession();
  const [deleting, setDeleting] = useState(false);
  return (
    <>
      <h1 id="app-title">{app.name}</h1>
      <Facts
        items={[
          ["Id (LATCHKEY_APP_ID)", <code key="id">{app.id}</code>],
          ["Identity", identitySummary(app)],
          ["Allowed return origins", app.allowed_return_origins.join(", ") || "none"],
          ["Created", formatTime(app.created_at)],
          ["Updated", formatTime(app.updated_at)],
        ]}
      />
      <TestToken path={path} app={app} />
      <ServiceKeys path={path} />
      {session.isAdmin ? (
        <>
          <EditApp app={app} path={path} onSaved={reload} />
          <h2>Delete</h2>
          <button type="button" className="danger" onClick={() => setDeleting(true)}>
            Delete app…
          </button>
        </>
      ) : (
        <p className="muted">Read-only: only workspace admins change apps.</p>
      )}
      {deleting && (
        <ConfirmDialog
          title={`Delete ${app.name}?`}
          confirmLabel="Delete app"
          onClose={() => setDeleting(false)}
          onConfirm={async () => {
            await api("DELETE", path);
            navigate("/apps");
          }}
        >
          <p>Its service keys stop working and every connection of its users is deleted. This cannot be undone.</p>
        </ConfirmDialog>
      )}
    </>
  );
}

function identitySummary(app: App): string {
  const identity = app.identity;
  if (identity.type === "latchkey") return "latchkey (user tokens minted by Latchkey for your backend)";
  const parts: string[] = [identity.type];
  if (identity.issuer) parts.push(`issuer ${identity.issuer}`);
  if (identity.audience) parts.push(`audience ${identity.audience}`);
  if (identity.type === "jwks" && identity.jwks_url) parts.push(`JWKS ${identity.jwks_url}`);
  return parts.join(" · ");
}

function EditApp({ app, path, onSaved }: { app: App; path: string; onSaved: () => void }) {
  const [name, setName] = useState(app.name);
  const [origins, setOrigins] = useState(app.allowed_return_origins.join("\n"));
  const [identity, setIdentity] = useState(() => draftFrom(app.identity));
  const [saved, setSaved] = useState(false);
  const { busy, error, onSubmit } = useSubmit(async () => {
    setSaved(false);
    await api("PATCH", path, {
      name: name.trim(),
      allowed_return_origins: splitLines(origins),
      identity: identityInput(identity),
    });
    setSaved(true);
    onSaved();
  });

  return (
    <form onSubmit={onSubmit} className="form" aria-labelledby="edit-app-title">
      <h2 id="edit-app-title">Edit</h2>
      <div className="field">
        <label htmlFor="edit-app-name">Name</label>
        <input id="edit-app-name" required value={name} onChange={(e) => setName(e.target.value)} />
      </div>
      <div className="field">
        <label htmlFor="edit-app-origins">Allowed return origins (one per line)</label>
        <textarea id="edit-app-origins" rows={3} value={origins} onChange={(e) => setOrigins(e.target.value)} />
      </div>
      <IdentityFields draft={identity} onChange={setIdentity} editing={app.identity.type === "hs256"} />
      <FormError error={error} />
      {saved && (
        <p className="notice" role="status">
          Changes saved.
        </p>
      )}
      <SubmitButton busy={busy} busyLabel="Saving…">
        Save changes
      </SubmitButton>
    </form>
  );
}

/** Pastes a user token and says whether this app accepts it, and if not, why. */
function TestToken({ path, app }: { path: string; app: App }) {
  const session = useSession();
  const [token, setToken] = useState("");
  const [result, setResult] = useState<TokenTestResult | null>(null);
  const { busy, error, onSubmit } = useSubmit(async () => {
    setResult(null);
    setResult(await api<TokenTestResult>("POST", `${path}/test-token`, { token: token.trim() }));
  });

  if (!session.isAdmin) return null;
  return (
    <form onSubmit={onSubmit} className="form" aria-labelledby="test-token-title">
      <h2 id="test-token-title">Test a user token</h2>
      <p className="muted">
        Paste a token your app would send as <code>Authorization: Bearer …</code>; Latchkey checks it with this app's{" "}
        {app.identity.type} identity config and says why it would refuse it. The token is not stored or logged.
      </p>
      <div className="field">
        <label htmlFor="test-token">User token</label>
        <textarea
          id="test-token"
          rows={3}
          className="mono"
          required
          spellCheck={false}
          value={token}
          onChange={(e) => setToken(e.target.value)}
        />
      </div>
      <FormError error={error} />
      {result && (
        <div className={result.valid ? "notice" : "state state-error"} role="status" data-testid="token-test-result">
          {result.valid ? (
            <p>
              Accepted: app user <code>{result.user_id}</code>
              {result.expires_at ? `, expires ${formatTime(result.expires_at)}` : ""}.
            </p>
          ) : (
            <p>
              Refused ({result.code}): {result.reason}
            </p>
          )}
        </div>
      )}
      <SubmitButton busy={busy} busyLabel="Checking…">
        Check token
      </SubmitButton>
    </form>
  );
}

function ServiceKeys({ path }: { path: string }) {
  const session = useSession();
  const keysPath = `${path}/service-keys`;
  const keys = useResource(() => api<{ keys: ServiceKeyInfo[] }>("GET", keysPath).then((r) => r.keys), keysPath);
  const [name, setName] = useState("");
  const [shown, setShown] = useState<string | null>(null);
  const [revoking, setRevoking] = useState<ServiceKeyInfo | null>(null);
  const create = useSubmit(async () => {
    const response = await api<{ service_key: string }>("POST", keysPath, { name: name.trim() });
    setShown(response.service_key);
    setName("");
    keys.reload();
  });

  return (
    <section aria-labelledby="keys-title">
      <h2 id="keys-title">Service keys</h2>
      <p className="muted">Your backend's credentials. Keep several active to rotate without downtime.</p>
      {shown && (
        <SecretOnce
          title="New service key"
          label="Service key"
          value={shown}
          note="Put it in your backend's LATCHKEY_SERVICE_KEY."
          onDone={() => setShown(null)}
        />
      )}
      <Loadable resource={keys} what="service keys">
        {(list) =>
          list.length === 0 ? (
            <Empty>No service keys: the app's backend cannot fetch tokens until you create one.</Empty>
          ) : (
            <DataTable
              caption="Service keys"
              columns={["Name", "Starts with", "Created", "Last used", "Status"]}
              actions={session.isAdmin}
            >
              {list.map((key) => (
                <tr key={key.id}>
                  <td>{key.name}</td>
                  <td>
                    <code>{key.prefix}…</code>
                  </td>
                  <td>{formatTime(key.created_at)}</td>
                  <td>{formatTime(key.last_used_at)}</td>
                  <td>
                    {key.revoked_at ? (
                      <span className="badge status-disabled">revoked {formatTime(key.revoked_at)}</span>
                    ) : (
                      <span className="badge status-enabled">active</span>
                    )}
                  </td>
                  {session.isAdmin && (
                    <td>
                      {!key.revoked_at && (
                        <button type="button" className="danger small-button" onClick={() => setRevoking(key)}>
                          Revoke<span className="sr-only"> {key.name}</span>
                        </button>
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </DataTable>
          )
        }
      </Loadable>
      {session.isAdmin && (
        <form onSubmit={create.onSubmit} className="inline-form" aria-label="Create a service key">
          <div className="field">
            <label htmlFor="key-name">New key name</label>
            <input
              id="key-name"
              required
              maxLength={200}
              placeholder="production backend"
              value={name}
              onChange={(e) => setName(e.target.value)}
            />
          </div>
          <SubmitButton busy={create.busy} busyLabel="Creating…">
            Create service key
          </SubmitButton>
          <FormError error={create.error} />
        </form>
      )}
      {revoking && (
        <ConfirmDialog
          title={`Revoke ${revoking.name}?`}
          confirmLabel="Revoke key"
          onClose={() => setRevoking(null)}
          onConfirm={async () => {
            await api("DELETE", `${keysPath}/${encodeURIComponent(revoking.id)}`);
            keys.reload();
          }}
        >
          <p>
            Backends using the key starting <code>{revoking.prefix}</code> are refused within seconds. This cannot be
            undone.
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}
