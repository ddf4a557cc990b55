import { type ReactNode, useState } from "react";
import { api } from "../api/client.ts";
import type { Connector } from "../api/types.ts";
import { Link, navigate } from "../router.tsx";
import { useSession } from "../session.tsx";
import { ConfirmDialog } from "../ui/confirm-dialog.tsx";
import { CopyField } from "../ui/copy-button.tsx";
import { Facts } from "../ui/facts.tsx";
import { formatTime, splitList } from "../ui/format.ts";
import { SubmitButton } from "../ui/submit-button.tsx";
import { useSubmit } from "../use-submit.ts";
import { FormError, Loadable } from "../ui/states.tsx";
import { useResource } from "../use-resource.ts";

export function ConnectorPage({ id }: { id: string }) {
  const session = useSession();
  const path = `${session.workspacePath}/connectors/${encodeURIComponent(id)}`;
  const connector = useResource(() => api<{ connector: Connector }>("GET", path).then((r) => r.connector), id);
  const created = new URLSearchParams(window.location.search).has("created");
  return (
    <section aria-labelledby="connector-title">
      <p className="crumbs">
        <Link to="/connectors">Connectors</Link> /
      </p>
      <Loadable resource={connector} what="the connector">
        {(data) => <ConnectorDetail connector={data} path={path} created={created} reload={connector.reload} />}
      </Loadable>
    </section>
  );
}

function ConnectorDetail({
  connector,
  path,
  created,
  reload,
}: {
  connector: Connector;
  path: string;
  created: boolean;
  reload: () => void;
}) {
  const session = useSession();
  const [confirming, setConfirming] = useState<"delete" | null>(null);
  const [message, setMessage] = useState<string | null>(created ? "Connector registered." : null);
  const [statusError, setStatusError] = useState<unknown>(null);

  const toggleStatus = async () => {
    setStatusError(null);
    const status = connector.status === "enabled" ? "disabled" : "enabled";
    try {
      await api("PATCH", path, { status });
      setMessage(
        status === "disabled" ? "Connector disabled: its tokens are no longer handed out." : "Connector enabled.",
      );
      reload();
    } catch (caught) {
      setStatusError(caught);
    }
  };

  const saved = (text: string) => {
    setMessage(text);
    reload();
  };
  const options = Object.entries(connector.options);
  return (
    <>
      <div className="page-head">
        <h1 id="connector-title">
          {connector.name} <span className={`badge status-${connector.status}`}>{connector.status}</span>
        </h1>
      </div>
      {message && (
        <p className="notice" role="status">
          {message}
        </p>
      )}
      <Facts
        items={[
          ["Id", <code key="id">{connector.id}</code>],
          ["Provider", connector.provider],
          ["Client id", <code key="client">{connector.client_id}</code>],
          ["Client secret", connector.has_client_secret ? "stored (encrypted; never shown)" : "none (public client)"],
          ["Scopes", connector.scopes.join(" ") || "provider defaults"],
          ...options.map(([name, value]): [string, ReactNode] => [
            name.replaceAll("_", " "),
            <code key={name}>{typeof value === "string" ? value : JSON.stringify(value)}</code>,
          ]),
          ["Created", formatTime(connector.created_at)],
          ["Updated", formatTime(connector.updated_at)],
        ]}
      />
      <CopyField
        id="callback-url"
        label="Redirect (callback) URL to register at the provider"
        value={connector.callback_url}
      />

      {session.isAdmin ? (
        <>
          <EditConnector connector={connector} path={path} onSaved={saved} />
          <RotateSecret path={path} onSaved={saved} />
          <h2>Status and removal</h2>
          <FormError error={statusError} />
          <div className="actions">
            <button type="button" className="secondary" onClick={toggleStatus}>
              {connector.status === "enabled" ? "Disable connector" : "Enable connector"}
            </button>
            <button type="button" className="danger" onClick={() => setConfirming("delete")}>
              Delete connector…
            </button>
          </div>
        </>
      ) : (
        <p className="muted">Read-only: only workspace admins change connectors.</p>
      )}
      {confirming === "delete" && (
        <ConfirmDialog
          title={`Delete ${connector.name}?`}
          confirmLabel="Delete connector"
          onClose={() => setConfirming(null)}
          onConfirm={async () => {
            await api("DELETE", path);
            navigate("/connectors");
          }}
        >
          <p>
            Every connection made through it is deleted with it: app users will have to connect again through a new
            connector. This cannot be undone.
          </p>
        </ConfirmDialog>
      )}
    </>
  );
}

function EditConnector({
  connector,
  path,
  onSaved,
}: {
  connector: Connector;
  path: string;
  onSaved: (message: string) => void;
}) {
  const [name, setName] = useState(connector.name);
  const [clientId, setClientId] = useState(connector.client_id);
  const [scopes, setScopes] = useState(connector.scopes.join(" "));
  const { busy, error, onSubmit } = useSubmit(async () => {
    await api("PATCH", path, { name: name.trim(), client_id: clientId.trim(), scopes: splitList(scopes) });
    onSaved("Changes saved.");
  });

  return (
    <form onSubmit={onSubmit} className="form" aria-labelledby="edit-connector-title">
      <h2 id="edit-connector-title">Edit</h2>
      <div className="field">
        <label htmlFor="edit-name">Name</label>
        <input id="edit-name" required value={name} onChange={(e) => setName(e.target.value)} />
      </div>
      <div className="field">
        <label htmlFor="edit-client-id">Client id</label>
        <input id="edit-client-id" required value={clientId} onChange={(e) => setClientId(e.target.value)} />
      </div>
      <div className="field">
        <label htmlFor="edit-scopes">Scopes</label>
        <input
          id="edit-scopes"
          value={scopes}
          aria-describedby="edit-scopes-hint"
          onChange={(e) => setScopes(e.target.value)}
        />
        <p id="edit-scopes-hint" className="hint">
          New connections ask for these; existing ones keep what was granted until they reconnect.
        </p>
      </div>
      <FormError error={error} />
      <SubmitButton busy={busy} busyLabel="Saving…">
        Save changes
      </SubmitButton>
    </form>
  );
}

function RotateSecret({ path, onSaved }: { path: string; onSaved: (message: string) => void }) {
  const [secret, setSecret] = useState("");
  const { busy, error, onSubmit } = useSubmit(async () => {
    await api("PATCH", path, { client_secret: secret });
    setSecret("");
    onSaved("Client secret replaced. Refreshes and new connections use the new one from now on.");
  });
  return (
    <form onSubmit={onSubmit} className="form" aria-labelledby="rotate-title">
      <h2 id="rotate-title">Rotate the client secret</h2>
      <p className="muted">Create a new secret at the provider, paste it here, then delete the old one there.</p>
      <div className="field">
        <label htmlFor="new-secret">New client secret</label>
        <input
          id="new-secret"
          type="password"
          autoComplete="off"
          required
          value={secret}
          onChange={(e) => setSecret(e.target.value)}
        />
      </div>
      <FormError error={error} />
      <SubmitButton busy={busy} busyLabel="Saving…">
        Replace secret
      </SubmitButton>
    </form>
  );
}
