import { useState } from "react";
import { api } from "../api/client.ts";
import type { Member, MemberRole, SetupLink } from "../api/types.ts";
import { useSession } from "../session.tsx";
import { ConfirmDialog } from "../ui/confirm-dialog.tsx";
import { CopyField } from "../ui/copy-button.tsx";
import { formatTime } from "../ui/format.ts";
import { SubmitButton } from "../ui/submit-button.tsx";
import { useSubmit } from "../use-submit.ts";
import { FormError, Loadable } from "../ui/states.tsx";
import { useResource } from "../use-resource.ts";
import { DataTable } from "../ui/data-table.tsx";

export function MembersPage() {
  const session = useSession();
  const ws = session.workspacePath;
  const members = useResource(() => api<{ members: Member[] }>("GET", `${ws}/members`).then((r) => r.members), ws);
  const [link, setLink] = useState<(SetupLink & { email: string }) | null>(null);
  const [removing, setRemoving] = useState<Member | null>(null);
  const [rowError, setRowError] = useState<unknown>(null);

  const changeRole = async (member: Member, role: MemberRole) => {
    setRowError(null);
    try {
      await api("PATCH", `${ws}/members/${encodeURIComponent(member.id)}`, { role });
      members.reload();
    } catch (caught) {
      setRowError(caught);
      members.reload();
    }
  };
  const newLink = async (member: Member) => {
    setRowError(null);
    try {
      const issued = await api<SetupLink>("POST", `${ws}/members/${encodeURIComponent(member.id)}/setup-link`);
      setLink({ ...issued, email: member.email });
    } catch (caught) {
      setRowError(caught);
    }
  };

  return (
    <section aria-labelledby="members-title">
      <h1 id="members-title">Members</h1>
      <p className="muted">
        Admins change connectors, apps and keys; members can look at everything. Everyone signs in with the password
        they set through a one-time link.
      </p>
      <Invite
        path={`${ws}/invitations`}
        onInvited={(issued) => {
          setLink(issued);
          members.reload();
        }}
      />
      {link && (
        <section className="secret-once" aria-labelledby="link-title">
          <h2 id="link-title">Setup link for {link.email}</h2>
          <p>
            <strong>Send this link to them privately.</strong> It works once, until {formatTime(link.expires_at)}, and
            lets whoever opens it set the password.
          </p>
          <CopyField id="setup-link" label="One-time setup link" value={link.setup_url} />
          <button type="button" onClick={() => setLink(null)}>
            Done
          </button>
        </section>
      )}
      <FormError error={rowError} />
      <Loadable resource={members} what="members">
        {(list) => (
          <DataTable caption="Members" columns={["Email", "Role", "Since"]} actions>
            {list.map((member) => {
              const self = member.id === session.member.id;
              return (
                <tr key={member.id}>
                  <td>
                    {member.email}
                    {self && <span className="muted"> (you)</span>}
                  </td>
                  <td>
                    <label className="sr-only" htmlFor={`role-${member.id}`}>
                      Role of {member.email}
                    </label>
                    <select
                      id={`role-${member.id}`}
                      value={member.role}
                      onChange={(e) => void changeRole(member, e.target.value as MemberRole)}
                    >
                      <option value="admin">admin</option>
                      <option value="member">member</option>
                    </select>
                  </td>
                  <td>{formatTime(member.created_at)}</td>
                  <td>
                    <div className="row-actions">
                      <button type="button" className="secondary small-button" onClick={() => void newLink(member)}>
                        New setup link<span className="sr-only"> for {member.email}</span>
                      </button>
                      {!self && (
                        <button type="button" className="danger small-button" onClick={() => setRemoving(member)}>
                          Remove<span className="sr-only"> {member.email}</span>
                        </button>
                      )}
                    </div>
                  </td>
                </tr>
              );
            })}
          </DataTable>
        )}
      </Loadable>
      {removing && (
        <ConfirmDialog
          title={`Remove ${removing.email}?`}
          confirmLabel="Remove member"
          onClose={() => setRemoving(null)}
          onConfirm={async () => {
            await api("DELETE", `${ws}/members/${encodeURIComponent(removing.id)}`);
            members.reload();
          }}
        >
          <p>They are signed out everywhere and their API keys stop working.</p>
        </ConfirmDialog>
      )}
    </section>
  );
}

function Invite({ path, onInvited }: { path: string; onInvited: (link: SetupLink & { email: string }) => void }) {
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<MemberRole>("member");
  const { busy, error, onSubmit } = useSubmit(async () => {
    const response = await api<SetupLink & { member: Member }>("POST", path, { email: email.trim(), role });
    onInvited({ setup_url: response.setup_url, expires_at: response.expires_at, email: response.member.email });
    setEmail("");
  });
  return (
    <form onSubmit={onSubmit} className="inline-form" aria-labelledby="invite-title">
      <h2 id="invite-title">Invite someone</h2>
      <div className="field">
        <label htmlFor="invite-email">Email</label>
        <input id="invite-email" type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
      </div>
      <div className="field">
        <label htmlFor="invite-role">Role</label>
        <select id="invite-role" value={role} onChange={(e) => setRole(e.target.value as MemberRole)}>
          <option value="member">member (read-only)</option>
          <option value="admin">admin</option>
        </select>
      </div>
      <SubmitButton busy={busy} busyLabel="Inviting…">
        Invite
      </SubmitButton>
      <FormError error={error} />
    </form>
  );
}
