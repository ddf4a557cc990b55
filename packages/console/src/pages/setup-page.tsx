import { type FormEvent, useState } from "react";
import { api } from "../api/client.ts";
import { navigate } from "../router.tsx";
import { useSessionState } from "../session.tsx";
import { SubmitButton } from "../ui/submit-button.tsx";
import { useSubmit } from "../use-submit.ts";
import { FormError } from "../ui/states.tsx";

export const minPasswordLength = 12;

/** The token travels in the URL fragment (never sent to the server in a request line or Referer). */
function tokenFromLocation(): string {
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  return fragment.get("token") ?? "";
}

export function SetupPage() {
  const { refresh } = useSessionState();
  const [token] = useState(tokenFromLocation);
  const [password, setPassword] = useState("");
  const [repeat, setRepeat] = useState("");

  const mismatch = repeat !== "" && password !== repeat;
  const tooShort = password !== "" && password.length < minPasswordLength;

  const { busy, error, run } = useSubmit(
    async () => {
      await api("POST", "/api/console/setup", { token, password }, { expect401: true });
      // The link is spent: drop it from the address bar and history.
      window.history.replaceState(null, "", "/console/");
      await refresh();
      navigate("/", { replace: true });
    },
    { staysBusy: true },
  );
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!mismatch && !tooShort) await run();
  };

  return (
    <main className="centered">
      <form className="card auth-card" onSubmit={submit} aria-labelledby="setup-title">
        <h1 id="setup-title">Set your password</h1>
        {!token ? (
          <p className="state state-error" role="alert">
            This setup link is incomplete. Open the whole link you were given, or ask an admin for a new one.
          </p>
        ) : (
          <>
            <p className="muted">
              Choose a password for the Latchkey console (at least {minPasswordLength} characters). This link works
              once.
            </p>
            <div className="field">
              <label htmlFor="new-password">New password</label>
              <input
                id="new-password"
                type="password"
                autoComplete="new-password"
                required
                minLength={minPasswordLength}
                maxLength={1024}
                value={password}
                aria-describedby="new-password-hint"
                onChange={(e) => setPassword(e.target.value)}
              />
              <p id="new-password-hint" className={tooShort ? "field-error" : "hint"}>
                {tooShort ? `Use at least ${minPasswordLength} characters.` : "A passphrase of a few words works well."}
              </p>
            </div>
            <div className="field">
              <label htmlFor="repeat-password">Repeat it</label>
              <input
                id="repeat-password"
                type="password"
                autoComplete="new-password"
                required
                value={repeat}
                aria-invalid={mismatch}
                onChange={(e) => setRepeat(e.target.value)}
              />
              {mismatch && <p className="field-error">The two passwords differ.</p>}
            </div>
            <FormError error={error} />
            <SubmitButton busy={busy} busyLabel="Saving…" disabled={mismatch || tooShort}>
              Set password and sign in
            </SubmitButton>
          </>
        )}
        <p className="small">
          <a href="/console/">Back to sign-in</a>
        </p>
      </form>
    </main>
  );
}
