import { createContext, type ReactNode, useCallback, useContext, useEffect, useState } from "react";
import { ApiError, api, setBearerKey, setCsrfToken, whenUnauthenticated } from "./api/client.ts";
import type { ConsoleSession, Workspace } from "./api/types.ts";

export type SessionState =
  | { status: "loading" }
  | { status: "signed-out"; reason?: string }
  | { status: "error"; error: unknown }
  | { status: "signed-in"; session: ConsoleSession };

interface SessionContextValue {
  state: SessionState;
  /** Loads the session again (after sign-in, setup or a change to the workspace). */
  refresh: () => Promise<void>;
  signOut: () => Promise<void>;
}

const SessionContext = createContext<SessionContextValue | null>(null);

/** Development only: an admin API key + workspace id in localStorage stand in for a session. */
const devKeyStorage = "latchkey.dev";

async function loadSession(): Promise<SessionState> {
  if (import.meta.env.DEV) {
    const dev = readDevCredentials();
    if (dev) return devSession(dev.key, dev.workspaceId);
  }
  try {
    const session = await api<ConsoleSession>("GET", "/api/console/session", undefined, { expect401: true });
    setCsrfToken(session.csrf_token);
    return { status: "signed-in", session };
  } catch (error) {
    setCsrfToken(null);
    if (error instanceof ApiError && error.status === 401) return { status: "signed-out" };
    return { status: "error", error };
  }
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<SessionState>({ status: "loading" });

  const refresh = useCallback(async () => {
    setState(await loadSession());
  }, []);

  const signOut = useCallback(async () => {
    if (import.meta.env.DEV && readDevCredentials()) {
      localStorage.removeItem(devKeyStorage);
      setBearerKey(null);
    } else {
      await api("POST", "/api/console/sign-out", undefined, { expect401: true }).catch(() => undefined);
    }
    setCsrfToken(null);
    setState({ status: "signed-out" });
  }, []);

  useEffect(() => {
    whenUnauthenticated(() => {
      setCsrfToken(null);
      setState({ status: "signed-out", reason: "Your session has ended. Sign in again." });
    });
    void refresh();
  }, [refresh]);

  return <SessionContext.Provider value={{ state, refresh, signOut }}>{children}</SessionContext.Provider>;
}

export function useSessionState(): SessionContextValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error("useSessionState outside SessionProvider");
  return value;
}

/** The signed-in session; only for screens rendered after sign-in. */
export function useSession(): ConsoleSession & { isAdmin: boolean; workspacePath: string } {
  const { state } = useSessionState();
  if (state.status !== "signed-in") throw new Error("useSession before sign-in");
  const { session } = state;
  return {
    ...session,
    isAdmin: session.member.role === "admin",
    workspacePath: `/api/workspaces/${encodeURIComponent(session.workspace.id)}`,
  };
}

function readDevCredentials(): { key: string; workspaceId: string } | null {
  const raw = localStorage.getItem(devKeyStorage);
  if (!raw) return null;
  try {
    const parsed = JSON.parse(raw) as { key?: unknown; workspaceId?: unknown };
    return typeof parsed.key === "string" && typeof parsed.workspaceId === "string"
      ? { key: parsed.key, workspaceId: parsed.workspaceId }
      : null;
  } catch {
    return null;
  }
}

export function saveDevCredentials(key: string, workspaceId: string): void {
  localStorage.setItem(devKeyStorage, JSON.stringify({ key, workspaceId }));
}

async function devSession(key: string, workspaceId: string): Promise<SessionState> {
  setBearerKey(key);
  try {
    const { workspace } = await api<{ workspace: Workspace }>(
      "GET",
      `/api/workspaces/${encodeURIComponent(workspaceId)}`,
      undefined,
      { expect401: true },
    );
    return {
      status: "signed-in",
      session: {
        member: { id: "dev", workspace_id: workspace.id, email: "admin API key (dev)", role: "admin", created_at: "" },
        workspace,
        csrf_token: "",
        callback_url: `${window.location.origin}/oauth/callback`,
        session: { id: "dev", expires_at: "" },
      },
    };
  } catch (error) {
    setBearerKey(null);
    localStorage.removeItem(devKeyStorage);
    return { status: "error", error };
  }
}
