import type { ReactNode } from "react";
import { ApiError, describeError } from "../api/client.ts";
import type { Resource } from "../use-resource.ts";

export function Loading({ what }: { what: string }) {
  return (
    <p className="state state-loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" /> Loading {what}…
    </p>
  );
}

export function ErrorBox({ error, retry }: { error: unknown; retry?: () => void }) {
  return (
    <div className="state state-error" role="alert">
      <p>{describeError(error)}</p>
      {error instanceof ApiError && <p className="muted small">Error code: {error.code}</p>}
      {retry && (
        <button type="button" onClick={retry}>
          Retry
        </button>
      )}
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="state state-empty">{children}</div>;
}

/** Loading and error states of a resource, then `children(data)`. */
export function Loadable<T>({
  resource,
  what,
  children,
}: {
  resource: Resource<T>;
  what: string;
  children: (data: T) => ReactNode;
}) {
  if (resource.state === "loading") return <Loading what={what} />;
  if (resource.state === "error") return <ErrorBox error={resource.error} retry={resource.reload} />;
  return <>{children(resource.data)}</>;
}

/** A form's error message, announced to screen readers. */
export function FormError({ error }: { error: unknown }) {
  if (error === null || error === undefined) return null;
  return (
    <p className="form-error" role="alert">
      {describeError(error)}
    </p>
  );
}
