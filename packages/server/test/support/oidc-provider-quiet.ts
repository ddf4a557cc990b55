/**
 * oidc-provider prints development notices straight to the console ("Unsupported runtime" on
 * Node 20 when it is imported, dev interactions, a pre-parsed request body, ...). In this
 * harness they are all expected, so they would only bury real test output. This drops console
 * lines that start with oidc-provider's own prefix and passes everything else through. It is
 * installed once per console object, so re-evaluating this module (vitest isolates test files)
 * does not stack filters.
 */
const installedMarker = Symbol.for("latchkey.test.oidcProviderNoticesSilenced");
const noticePrefix = /^(?:\x1b\[[0-9;]*m)?oidc-provider (?:WARNING|NOTICE):/;

export function silenceOidcProviderNotices(): void {
  if (Reflect.get(console, installedMarker) === true) return;
  Reflect.set(console, installedMarker, true);
  for (const method of ["warn", "info"] as const) {
    const original = console[method].bind(console);
    console[method] = (...args: unknown[]) => {
      if (typeof args[0] === "string" && noticePrefix.test(args[0])) return;
      original(...args);
    };
  }
}
