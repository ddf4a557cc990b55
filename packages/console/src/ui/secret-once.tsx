import { CopyField } from "./copy-button.tsx";

/** A secret the API returns once: shown with a copy button and a warning, until dismissed. */
export function SecretOnce({
  title,
  label,
  value,
  onDone,
  note,
}: {
  title: string;
  label: string;
  value: string;
  onDone: () => void;
  note?: string;
}) {
  return (
    <section className="secret-once" aria-labelledby="secret-once-title">
      <h3 id="secret-once-title">{title}</h3>
      <p>
        <strong>Copy it now: it is shown only this once.</strong> {note}
      </p>
      <CopyField label={label} value={value} id="secret-once-value" />
      <button type="button" onClick={onDone}>
        I have saved it
      </button>
    </section>
  );
}
