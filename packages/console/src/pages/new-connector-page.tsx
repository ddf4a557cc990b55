import { useId, useState } from "react";
import { api } from "../api/client.ts";
import type { Connector, ProviderInfo } from "../api/types.ts";
import { Link, navigate } from "../router.tsx";
import { useSession } from "../session.tsx";
import { CopyField } from "../ui/copy-button.tsx";
import { splitList } from "../ui/format.ts";
import { Empty, FormError, Loadable } from "../ui/states.tsx";
import { SubmitButton } from "../ui/submit-button.tsx";
import { useSubmit } from "../use-submit.ts";
import { useResource } from "../use-resource.ts";
import { isGeneric, loadProviders, matchesSearch } from "./providers.ts";

export function NewConnectorPage() {
  const providers = useResource(loadProviders, "providers");
  const [chosen, setChosen] = useState<ProviderInfo | null>(null);
  return (
    <section aria-labelledby="new-connector-title">
      <p className="crumbs">
        <Link to="/connectors">Connectors</Link> /
      </p>
      <h1 id="new-connector-title">Register a connector</h1>
      <Loadable resource={providers} what="providers">
        {(list) =>
          chosen ? (
            <ConnectorForm provider={chosen} onBack={() => setChosen(null)} />
          ) : (
            <ProviderPicker providers={list} onPick={setChosen} />
          )
        }
      </Loadable>
    </section>
  );
}

function ProviderPicker({ providers, onPick }: { providers: ProviderInfo[]; onPick: (p: ProviderInfo) => void }) {
  const [search, setSearch] = useState("");
  const shown = providers.filter((provider) => isGeneric(provider.id) || matchesSearch(provider, search));
  const namedShown = shown.filter((provider) => !isGeneric(provider.id)).length;
  return (
    <div>
      <h2>1. Pick the provider</h2>
      <div className="field">
        <label htmlFor="provider-search">Search providers</label>
        <input
          id="provider-search"
          type="search"
          placeholder="Google, Slack, GitHub…"
          value={search}
          aria-describedby="provider-search-hint"
          onChange={(e) => setSearch(e.target.value)}
        />
        <p id="provider-search-hint" className="hint" aria-live="polite">
          {search
            ? `${namedShown} matching in the catalog`
            : providers.length > 2
              ? `${providers.length - 2} providers in the catalog`
              : "No named providers on this server yet"}
          ; generic OAuth 2.0 and OpenID Connect are always available.
        </p>
      </div>
      {shown.length === 0 ? (
        <Empty>No provider matches.</Empty>
      ) : (
        <ul className="provider-grid">
          {shown.map((provider) => (
            <li key={provider.id}>
              <button type="button" className="provider-choice" onClick={() => onPick(provider)}>
                <strong>{provider.name}</strong>
                <span className="muted small">
                  {provider.id}
                  {provider.categories?.length ? ` · ${provider.categories.join(", ")}` : ""}
                </span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

const authMethods = ["client_secret_basic", "client_secret_post", "none"] as const;
const endpointFields = ["authorization_url", "token_url", "revocation_url", "userinfo_url", "api_base_url"] as const;

function ConnectorForm({ provider, onBack }: { provider: ProviderInfo; onBack: () => void }) {
  const session = useSession();
  const id = useId();
  const presets = Object.entries(provider.scope_presets ?? {});
  const connectorValues = (provider.connection_values ?? []).filter((value) => value.supplied_by === "connector");
  const integrationTypes = provider.integration_types ?? [];
  const [values, setValues] = useState<Record<string, string>>({
    name: "",
    client_id: "",
    client_secret: "",
    scopes: "",
    scope_preset: "",
    token_endpoint_auth_method: "",
    integration_type: "",
  });
  const [pkce, setPkce] = useState(true);

  const set = (name: string) => (event: { target: { value: string } }) =>
    setValues((current) => ({ ...current, [name]: event.target.value }));
  const value = (name: string) => values[name] ?? "";
  const publicClient = value("token_endpoint_auth_method") === "none";

  const requestBody = () => {
    const body: Record<string, unknown> = { provider: provider.id, client_id: value("client_id").trim() };
    if (value("name").trim()) body.name = value("name").trim();
    if (!publicClient && value("client_secret")) body.client_secret = value("client_secret");
    if (value("scope_preset")) body.scope_preset = value("scope_preset");
    else if (value("scopes").trim()) body.scopes = splitList(value("scopes"));
    if (value("token_endpoint_auth_method")) body.token_endpoint_auth_method = value("token_endpoint_auth_method");
    if (provider.id === "oauth2") {
      for (const field of ["authorization_url", "token_url", "revocation_url", "userinfo_url"]) {
        if (value(field).trim()) body[field] = value(field).trim();
      }
      if (!pkce) body.pkce = false;
    } else if (provider.id === "oidc") {
      body.issuer = value("issuer").trim();
    } else {
      const endpoints = Object.fromEntries(
        endpointFields
          .filter((field) => value(`endpoint_${field}`).trim())
          .map((f) => [f, value(`endpoint_${f}`).trim()]),
      );
      if (Object.keys(endpoints).length > 0) body.endpoints = endpoints;
      const fixed = Object.fromEntries(
        connectorValues
          .filter((v) => value(`value_${v.name}`).trim())
          .map((v) => [v.name, value(`value_${v.name}`).trim()]),
      );
      if (Object.keys(fixed).length > 0) body.connection_values = fixed;
      if (value("integration_type")) body.integration_type = value("integration_type");
    }
    return body;
  };
  const { busy, error, onSubmit } = useSubmit(
    async () => {
      const path = `${session.workspacePath}/connectors`;
      const { connector } = await api<{ connector: Connector }>("POST", path, requestBody());
      navigate(`/connectors/${encodeURIComponent(connector.id)}?created=1`);
    },
    { staysBusy: true },
  );

  const text = (name: string, label: string, options: { required?: boolean; hint?: string; type?: string } = {}) => (
    <div className="field">
      <label htmlFor={`${id}-${name}`}>
        {label}
        {options.required ? "" : <span className="muted"> (optional)</span>}
      </label>
      <input
        id={`${id}-${name}`}
        type={options.type ?? "text"}
        required={options.required}
        value={value(name)}
        onChange={set(name)}
        autoComplete="off"
        spellCheck={false}
        {...(options.hint ? { "aria-describedby": `${id}-${name}-hint` } : {})}
      />
      {options.hint && (
        <p id={`${id}-${name}-hint`} className="hint">
          {options.hint}
        </p>
      )}
    </div>
  );

  return (
    <form onSubmit={onSubmit} className="form" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>2. {provider.name}: client credentials</h2>
      <p>
        <button type="button" className="link-button" onClick={onBack}>
          ← Choose another provider
        </button>
        {provider.docs_url && (
          <>
            {" · "}
            <a href={provider.docs_url} target="_blank" rel="noreferrer noopener">
              Provider documentation
            </a>
          </>
        )}
      </p>
      <CopyField
        id={`${id}-callback`}
        label="Redirect (callback) URL to register at the provider"
        value={session.callback_url}
      />
      {text("name", "Name", { hint: `Shown in the console; default "${provider.name}".` })}
      {text("client_id", "Client id", { required: true })}
      {!publicClient &&
        text("client_secret", "Client secret", {
          required: true,
          type: "password",
          hint: "Stored encrypted; never shown again.",
        })}
      {provider.id === "oauth2" && (
        <fieldset>
          <legend>Endpoints</legend>
          {text("authorization_url", "Authorization URL", { required: true })}
          {text("token_url", "Token URL", { required: true })}
          {text("revocation_url", "Revocation URL")}
          {text("userinfo_url", "Userinfo URL", { hint: "Where the connected account's id and email are read." })}
          <div className="field checkbox">
            <input id={`${id}-pkce`} type="checkbox" checked={pkce} onChange={(e) => setPkce(e.target.checked)} />
            <label htmlFor={`${id}-pkce`}>Use PKCE (S256)</label>
          </div>
        </fieldset>
      )}
      {provider.id === "oidc" &&
        text("issuer", "Issuer", {
          required: true,
          hint: "Endpoints come from its /.well-known/openid-configuration.",
        })}
      {presets.length > 0 && (
        <div className="field">
          <label htmlFor={`${id}-preset`}>Scope preset</label>
          <select id={`${id}-preset`} value={value("scope_preset")} onChange={set("scope_preset")}>
            <option value="">None: list the scopes below</option>
            {presets.map(([name, scopes]) => (
              <option key={name} value={name}>
                {name}: {scopes.join(" ")}
              </option>
            ))}
          </select>
        </div>
      )}
      {!value("scope_preset") &&
        text("scopes", "Scopes", { hint: "Separated by spaces or commas. Empty: the provider's defaults." })}
      {isGeneric(provider.id) ? (
        <div className="field">
          <label htmlFor={`${id}-auth`}>Client authentication at the token endpoint</label>
          <select
            id={`${id}-auth`}
            value={value("token_endpoint_auth_method")}
            onChange={set("token_endpoint_auth_method")}
          >
            <option value="">Default (client_secret_basic)</option>
            {authMethods.map((method) => (
              <option key={method} value={method}>
                {method === "none" ? "none (public client, PKCE only)" : method}
              </option>
            ))}
          </select>
        </div>
      ) : (
        <>
          {connectorValues.map((v) =>
            text(`value_${v.name}`, v.label, { required: true, hint: v.example ? `For example ${v.example}` : "" }),
          )}
          {integrationTypes.length > 1 && (
            <div className="field">
              <label htmlFor={`${id}-integration`}>Integration type (Base44 name)</label>
              <select id={`${id}-integration`} value={value("integration_type")} onChange={set("integration_type")}>
                <option value="">Default ({provider.id})</option>
                {integrationTypes.map((type) => (
                  <option key={type} value={type}>
                    {type}
                  </option>
                ))}
              </select>
            </div>
          )}
          <details>
            <summary>Endpoint overrides (self-hosted or enterprise installs)</summary>
            {endpointFields.map((field) => text(`endpoint_${field}`, field.replaceAll("_", " ")))}
          </details>
        </>
      )}
      <FormError error={error} />
      <div className="actions">
        <SubmitButton busy={busy} busyLabel="Registering…">
          Register connector
        </SubmitButton>
        <Link to="/connectors" className="button secondary">
          Cancel
        </Link>
      </div>
    </form>
  );
}
