import { useCallback, useEffect, useRef, useState } from "react";

export type Resource<T> =
  | { state: "loading"; reload: () => void }
  | { state: "error"; error: unknown; reload: () => void }
  | { state: "ready"; data: T; reload: () => void };

/** Loads `load()` when `key` changes; `reload` loads again and keeps showing the old data meanwhile. */
export function useResource<T>(load: () => Promise<T>, key: string): Resource<T> {
  const [version, setVersion] = useState(0);
  const [result, setResult] = useState<
    { key: string; ok: true; data: T } | { key: string; ok: false; error: unknown }
  >();
  const loadRef = useRef(load);
  loadRef.current = load;
  const reload = useCallback(() => setVersion((v) => v + 1), []);

  // biome-ignore lint/correctness/useExhaustiveDependencies: `version` is how reload() asks for another load.
  useEffect(() => {
    let live = true;
    loadRef.current().then(
      (data) => live && setResult({ key, ok: true, data }),
      (error: unknown) => live && setResult({ key, ok: false, error }),
    );
    return () => {
      live = false;
    };
  }, [key, version]);

  if (!result || result.key !== key) return { state: "loading", reload };
  return result.ok ? { state: "ready", data: result.data, reload } : { state: "error", error: result.error, reload };
}
