import type { ReactNode } from "react";

/** A form's submit button: disabled and relabelled (`busyLabel`) while the submission runs. */
export function SubmitButton({
  busy,
  busyLabel,
  disabled = false,
  children,
}: {
  busy: boolean;
  busyLabel: string;
  disabled?: boolean;
  children: ReactNode;
}) {
  return (
    <button type="submit" disabled={busy || disabled}>
      {busy ? busyLabel : children}
    </button>
  );
}
