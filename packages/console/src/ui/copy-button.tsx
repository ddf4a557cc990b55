import { useState } from "react";

export function CopyButton({ value, label = "Copy" }: { value: string; label?: string }) {
  const [copied, setCopied] = useState<"yes" | "no" | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied("yes");
    } catch {
      setCopied("no");
    }
    window.setTimeout(() => setCopied(null), 2000);
  };
  return (
    <button type="button" className="secondary small-button" onClick={copy} aria-live="polite">
      {copied === "yes" ? "Copied" : copied === "no" ? "Select and copy" : label}
    </button>
  );
}

/** A value to copy: shown in a read-only box with its copy button. */
export function CopyField({ label, value, id }: { label: string; value: string; id: string }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <div className="copy-row">
        <input id={id} readOnly value={value} className="mono" onFocus={(event) => event.currentTarget.select()} />
        <CopyButton value={value} />
      </div>
    </div>
  );
}
