import { type ReactNode, useEffect, useRef } from "react";
import { useSubmit } from "../use-submit.ts";
import { FormError } from "./states.tsx";

/**
 * A modal confirmation (native <dialog>: focus moves in, Escape cancels, focus returns). The action
 * runs on confirm; its error is shown in the dialog, which stays open.
 */
export function ConfirmDialog({
  title,
  children,
  confirmLabel,
  danger = true,
  onConfirm,
  onClose,
}: {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  onConfirm: () => Promise<void>;
  onClose: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const {
    busy,
    error,
    run: confirm,
  } = useSubmit(
    async () => {
      await onConfirm();
      onClose();
    },
    { staysBusy: true },
  );

  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);

  return (
    <dialog ref={ref} className="dialog" aria-labelledby="confirm-title" onCancel={onClose}>
      <h2 id="confirm-title">{title}</h2>
      <div className="dialog-body">{children}</div>
      <FormError error={error} />
      <div className="actions">
        <button type="button" className="secondary" onClick={onClose} disabled={busy}>
          Cancel
        </button>
        <button type="button" className={danger ? "danger" : ""} onClick={confirm} disabled={busy}>
          {busy ? "Working…" : confirmLabel}
        </button>
      </div>
    </dialog>
  );
}
