import type { IdentityConfig, IdentityConfigInput } from "../api/types.ts";

export interface IdentityDraft {
  type: "jwks" | "hs256" | "latchkey";
  issuer: string;
  audience: string;
  jwks_url: string;
  secret: string;
}

export function draftFrom(identity: IdentityConfig | null): IdentityDraft {
  const draft: IdentityDraft = { type: "latchkey", issuer: "", audience: "", jwks_url: "", secret: "" };
  if (!identity) return { ...draft, type: "jwks" };
  if (identity.type === "latchkey") return draft;
  return {
    ...draft,
    type: identity.type,
    issuer: identity.issuer ?? "",
    audience: identity.audience ?? "",
    jwks_url: identity.type === "jwks" ? (identity.jwks_url ?? "") : "",
  };
}

/** The identity object the API takes; on edit an empty hs256 secret keeps the stored one. */
export function identityInput(draft: IdentityDraft): IdentityConfigInput | Record<string, string> {
  const optional = (name: "issuer" | "audience" | "jwks_url") => {
    const value = draft[name].trim();
    return value ? { [name]: value } : {};
  };
  switch (draft.type) {
    case "jwks":
      return { type: "jwks", issuer: draft.issuer.trim(), ...optional("audience"), ...optional("jwks_url") };
    case "hs256":
      return {
        type: "hs256",
        ...(draft.secret ? { secret: draft.secret } : {}),
        ...optional("issuer"),
        ...optional("audience"),
      };
    case "latchkey":
      return { type: "latchkey" };
  }
}

const descriptions: Record<IdentityDraft["type"], string> = {
  jwks: "Your own sign-in (Auth0, Clerk, Supabase, Keycloak…) issues JWTs; Latchkey checks them against its JWKS.",
  hs256: "JWTs signed with a shared secret (HS256).",
  latchkey: "Your backend asks Latchkey for a short-lived user token with a service key.",
};

export function IdentityFields({
  draft,
  onChange,
  editing,
}: {
  draft: IdentityDraft;
  onChange: (draft: IdentityDraft) => void;
  /** On edit, an hs256 secret may be left empty to keep the current one. */
  editing: boolean;
}) {
  const set = (name: keyof IdentityDraft) => (event: { target: { value: string } }) =>
    onChange({ ...draft, [name]: event.target.value });
  return (
    <fieldset>
      <legend>How app users are identified</legend>
      <div className="radio-group" role="radiogroup" aria-label="Identity type">
        {(["jwks", "hs256", "latchkey"] as const).map((type) => (
          <label key={type} className="radio">
            <input
              type="radio"
              name="identity-type"
              value={type}
              checked={draft.type === type}
              onChange={() => onChange({ ...draft, type })}
            />
            <span>
              <strong>{type}</strong> <span className="muted small">{descriptions[type]}</span>
            </span>
          </label>
        ))}
      </div>
      {draft.type !== "latchkey" && (
        <>
          <div className="field">
            <label htmlFor="identity-issuer">
              Issuer{draft.type === "hs256" && <span className="muted"> (optional)</span>}
            </label>
            <input
              id="identity-issuer"
              required={draft.type === "jwks"}
              placeholder={draft.type === "jwks" ? "https://your-tenant.auth0.com/" : ""}
              value={draft.issuer}
              onChange={set("issuer")}
            />
          </div>
          <div className="field">
            <label htmlFor="identity-audience">
              Audience <span className="muted">(optional)</span>
            </label>
            <input id="identity-audience" value={draft.audience} onChange={set("audience")} />
          </div>
        </>
      )}
      {draft.type === "jwks" && (
        <div className="field">
          <label htmlFor="identity-jwks">
            JWKS URL <span className="muted">(optional: found through the issuer's discovery document)</span>
          </label>
          <input id="identity-jwks" value={draft.jwks_url} onChange={set("jwks_url")} />
        </div>
      )}
      {draft.type === "hs256" && (
        <div className="field">
          <label htmlFor="identity-secret">
            Shared secret{editing && <span className="muted"> (empty: keep)</span>}
          </label>
          <input
            id="identity-secret"
            type="password"
            autoComplete="off"
            required={!editing}
            minLength={32}
            value={draft.secret}
            aria-describedby="identity-secret-hint"
            onChange={set("secret")}
          />
          <p id="identity-secret-hint" className="hint">
            At least 32 bytes. Stored encrypted; never shown again.
          </p>
        </div>
      )}
    </fieldset>
  );
}
