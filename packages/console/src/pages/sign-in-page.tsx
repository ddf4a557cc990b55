import { useState } from "react";
import { api } from "../api/client.ts";
import { saveDevCredentials, useSessionState } from "../session.tsx";
import { SubmitButton } from "../ui/submit-button.tsx";
import { useSubmit } from "../use-submit.ts";
import { FormError } from "../ui/states.tsx";

export function SignInPage({ notice }: { notice?: string }) {
  const { refresh } = useSessionState();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const { busy, error, onSubmit } = useSubmit(
    async () => {
      await api("POST", "/api/console/sign-in", { email, password }, { expect401: true });
      setPassword("");
      await refresh();
    },
    { staysBusy: true },
  );

  return (
    <main className="centered">
      <form className="card auth-card" onSubmit={onSubmit} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">Sign in to Latchkey</h1>
        {notice && (
          <p className="notice" role="status">
            {notice}
          </p>
        )}
        <div className="field">
          <label htmlFor="email">Email</label>
          <input
            id="email"
            type="email"
            autoComplete="username"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="password">Password</label>
          <input
            id="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </div>
        <FormError error={error} />
        <SubmitButton busy={busy} busyLabel="Signing in…">
          Sign in
        </SubmitButton>
        <p className="muted small">
          No password yet? Open the one-time setup link an admin gave you (or that <code>latchkey init</code> printed).
        </p>
      </form>
      {import.meta.env.DEV && <DevKeyForm />}
    </main>
  );
}

/** Development only (stripped from the build): use an admin API key instead of a session. */
function DevKeyForm() {
  const { refresh } = useSessionState();
  const [key, setKey] = useState("");
  const [workspaceId, setWorkspaceId] = useState("");
  return (
    <details className="card auth-card">
      <summary>Development: use an admin API key</summary>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          saveDevCredentials(key.trim(), workspaceId.trim());
          void refresh();
        }}
      >
        <div className="field">
          <label htmlFor="dev-workspace">Workspace id</label>
          <input id="dev-workspace" value={workspaceId} onChange={(e) => setWorkspaceId(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="dev-key">Admin API key</label>
          <input id="dev-key" type="password" value={key} onChange={(e) => setKey(e.target.value)} />
        </div>
        <button type="submit">Use key</button>
      </form>
    </details>
  );
}
