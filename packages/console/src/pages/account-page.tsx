import { useState } from "react";
import { api } from "../api/client.ts";
import type { SessionInfo } from "../api/types.ts";
import { useSession, useSessionState } from "../session.tsx";
import { ConfirmDialog } from "../ui/confirm-dialog.tsx";
import { Facts } from "../ui/facts.tsx";
import { formatTime } from "../ui/format.ts";
import { FormError, Loadable } from "../ui/states.tsx";
import { useResource } from "../use-resource.ts";
import { DataTable } from "../ui/data-table.tsx";

export function AccountPage() {
  const session = useSession();
  const { signOut } = useSessionState();
  const sessions = useResource(
    () => api<{ sessions: SessionInfo[] }>("GET", "/api/console/sessions").then((r) => r.sessions),
    session.session.id,
  );
  const [error, setError] = useState<unknown>(null);
  const [signingOutAll, setSigningOutAll] = useState(false);

  const revoke = async (target: SessionInfo) => {
    setError(null);
    try {
      await api("DELETE", `/api/console/sessions/${encodeURIComponent(target.id)}`);
      if (target.current) await signOut();
      else sessions.reload();
    } catch (caught) {
      setError(caught);
    }
  };

  return (
    <section aria-labelledby="account-title">
      <h1 id="account-title">Your account</h1>
      <Facts
        items={[
          ["Email", session.member.email],
          ["Role", session.member.role],
          ["Workspace", `${session.workspace.name} (${session.workspace.id})`],
          ["This session expires", formatTime(session.session.expires_at)],
        ]}
      />
      <p className="muted">To change your password, ask an admin for a new setup link.</p>
      <h2>Where you are signed in</h2>
      <FormError error={error} />
      <Loadable resource={sessions} what="your sessions">
        {(list) => (
          <DataTable caption="Your sessions" columns={["Browser", "Address", "Signed in", "Last seen"]} actions>
            {list.map((item) => (
              <tr key={item.id}>
                <td>
                  {shortAgent(item.user_agent)}
                  {item.current && <span className="badge">this browser</span>}
                </td>
                <td>{item.ip ?? "—"}</td>
                <td>{formatTime(item.created_at)}</td>
                <td>{formatTime(item.last_seen_at)}</td>
                <td>
                  <button type="button" className="secondary small-button" onClick={() => void revoke(item)}>
                    {item.current ? "Sign out" : "Revoke"}
                  </button>
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </Loadable>
      <button type="button" className="danger" onClick={() => setSigningOutAll(true)}>
        Sign out everywhere…
      </button>
      {signingOutAll && (
        <ConfirmDialog
          title="Sign out everywhere?"
          confirmLabel="Sign out everywhere"
          onClose={() => setSigningOutAll(false)}
          onConfirm={async () => {
            await api("POST", "/api/console/sign-out", { everywhere: true });
            await signOut();
          }}
        >
          <p>Every session of yours ends, this one included.</p>
        </ConfirmDialog>
      )}
    </section>
  );
}

function shortAgent(agent: string | null): string {
  if (!agent) return "unknown";
  const match = /(Firefox|Edg|Chrome|Chromium|Safari)\/[\d.]+/.exec(agent);
  const os = /(Windows|Mac OS X|Linux|Android|iPhone)/.exec(agent);
  return [match?.[0], os?.[0]].filter(Boolean).join(" on ") || agent.slice(0, 60);
}
