import { type FormEvent, useState } from "react";

export interface Submission {
  /** True while the action runs (and after it succeeded, with `staysBusy`). */
  busy: boolean;
  /** The last failure, for <FormError>; cleared when the action runs again. */
  error: unknown;
  /** Runs the action (for a button outside a form). */
  run: () => Promise<void>;
  /** A form's submit handler: no page load, then `run`. */
  onSubmit: (event: FormEvent) => Promise<void>;
}

/**
 * What every console form does around its request: disable the button while it runs, keep the
 * error to show it. `staysBusy`: success replaces the form (another page, a closed dialog), so it
 * stays disabled and cannot be sent twice meanwhile.
 */
export function useSubmit(action: () => Promise<void>, options: { staysBusy?: boolean } = {}): Submission {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      await action();
      if (!options.staysBusy) setBusy(false);
    } catch (caught) {
      setError(caught);
      setBusy(false);
    }
  };
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    return run();
  };
  return { busy, error, run, onSubmit };
}
