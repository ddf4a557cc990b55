/** Dates as people read them, in the browser's locale; null as a dash. */
export function formatTime(value: string | null | undefined): string {
  if (!value) return "—";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** "in 5 min" / "3 h ago", for expiries. */
export function relativeTime(value: string | null | undefined, now = Date.now()): string {
  if (!value) return "—";
  const ms = new Date(value).getTime() - now;
  if (Number.isNaN(ms)) return value;
  const abs = Math.abs(ms);
  const units: [number, string][] = [
    [86_400_000, "d"],
    [3_600_000, "h"],
    [60_000, "min"],
  ];
  const [size, unit] = units.find(([size]) => abs >= size) ?? [1000, "s"];
  const amount = Math.round(abs / size);
  return ms >= 0 ? `in ${amount} ${unit}` : `${amount} ${unit} ago`;
}

export function splitList(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((part) => part.trim())
    .filter(Boolean);
}

export function splitLines(text: string): string[] {
  return text
    .split(/\n+/)
    .map((part) => part.trim())
    .filter(Boolean);
}
