import { useState } from "react";
import { api } from "../api/client.ts";
import type { App } from "../api/types.ts";
import { Link, navigate } from "../router.tsx";
import { useSession } from "../session.tsx";
import { splitLines } from "../ui/format.ts";
import { SecretOnce } from "../ui/secret-once.tsx";
import { SubmitButton } from "../ui/submit-button.tsx";
import { useSubmit } from "../use-submit.ts";
import { FormError } from "../ui/states.tsx";
import { draftFrom, IdentityFields, identityInput } from "./identity-fields.tsx";

export function NewAppPage() {
  const session = useSession();
  const [name, setName] = useState("");
  const [origins, setOrigins] = useState("");
  const [identity, setIdentity] = useState(() => draftFrom(null));
  const [created, setCreated] = useState<{ app: App; serviceKey: string } | null>(null);
  const { busy, error, onSubmit } = useSubmit(
    async () => {
      const response = await api<{ app: App; service_key: string }>("POST", `${session.workspacePath}/apps`, {
        name: name.trim(),
        allowed_return_origins: splitLines(origins),
        identity: identityInput(identity),
      });
      setCreated({ app: response.app, serviceKey: response.service_key });
    },
    { staysBusy: true },
  );

  if (created) {
    return (
      <section aria-labelledby="new-app-title">
        <h1 id="new-app-title">App {created.app.name} created</h1>
        <SecretOnce
          title="Its first service key"
          label="Service key (LATCHKEY_SERVICE_KEY of your backend)"
          value={created.serviceKey}
          note="Your backend sends it to fetch users' tokens. Revoke it from the app's page if it leaks."
          onDone={() => navigate(`/apps/${encodeURIComponent(created.app.id)}`)}
        />
      </section>
    );
  }

  return (
    <section aria-labelledby="new-app-title">
      <p className="crumbs">
        <Link to="/apps">Apps</Link> /
      </p>
      <h1 id="new-app-title">Create an app</h1>
      <form onSubmit={onSubmit} className="form">
        <div className="field">
          <label htmlFor="app-name">Name</label>
          <input id="app-name" required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="app-origins">Allowed return origins</label>
          <textarea
            id="app-origins"
            rows={3}
            placeholder="https://app.example.com"
            aria-describedby="app-origins-hint"
            value={origins}
            onChange={(e) => setOrigins(e.target.value)}
          />
          <p id="app-origins-hint" className="hint">
            One per line: scheme, host and port, exactly. After connecting, users are sent back only to these.
          </p>
        </div>
        <IdentityFields draft={identity} onChange={setIdentity} editing={false} />
        <FormError error={error} />
        <div className="actions">
          <SubmitButton busy={busy} busyLabel="Creating…">
            Create app
          </SubmitButton>
          <Link to="/apps" className="button secondary">
            Cancel
          </Link>
        </div>
      </form>
    </section>
  );
}
