/**
 * A minimal browser cookie store for driving HTTP flows with fetch in tests: it honours
 * Path, Max-Age and Expires (enough for an authorization server's session and interaction
 * cookies), keyed by origin. Domain and Secure are not modelled: tests talk to 127.0.0.1.
 */
export class CookieJar {
  readonly #cookies = new Map<string, StoredCookie>();

  /** Stores every Set-Cookie of a response received from `url`. */
  store(url: URL, response: Response): void {
    for (const header of response.headers.getSetCookie()) {
      const cookie = parseSetCookie(header, url);
      if (!cookie) continue;
      const key = `${cookie.origin} ${cookie.path} ${cookie.name}`;
      if (cookie.expiresAt !== undefined && cookie.expiresAt <= Date.now()) this.#cookies.delete(key);
      else this.#cookies.set(key, cookie);
    }
  }

  /** The Cookie header a browser would send to `url`, or undefined when none applies. */
  headerFor(url: URL): string | undefined {
    const now = Date.now();
    const matching = [...this.#cookies.values()]
      .filter((cookie) => cookie.origin === url.origin && pathMatches(url.pathname, cookie.path))
      .filter((cookie) => cookie.expiresAt === undefined || cookie.expiresAt > now)
      .sort((a, b) => b.path.length - a.path.length);
    if (matching.length === 0) return undefined;
    return matching.map((cookie) => `${cookie.name}=${cookie.value}`).join("; ");
  }

  get size(): number {
    return this.#cookies.size;
  }
}

interface StoredCookie {
  origin: string;
  name: string;
  value: string;
  path: string;
  expiresAt: number | undefined;
}

function parseSetCookie(header: string, url: URL): StoredCookie | undefined {
  const [pair = "", ...attributes] = header.split(";");
  const separator = pair.indexOf("=");
  if (separator <= 0) return undefined;
  const cookie: StoredCookie = {
    origin: url.origin,
    name: pair.slice(0, separator).trim(),
    value: pair.slice(separator + 1).trim(),
    path: defaultPath(url.pathname),
    expiresAt: undefined,
  };
  for (const attribute of attributes) {
    const [rawName = "", ...rest] = attribute.split("=");
    const value = rest.join("=").trim();
    switch (rawName.trim().toLowerCase()) {
      case "path":
        if (value.startsWith("/")) cookie.path = value;
        break;
      case "max-age":
        cookie.expiresAt = Date.now() + Number(value) * 1000;
        break;
      case "expires":
        // Max-Age wins over Expires, as in browsers.
        if (!/max-age/i.test(header)) cookie.expiresAt = Date.parse(value);
        break;
    }
  }
  return cookie;
}

/** RFC 6265 §5.1.4 default-path. */
function defaultPath(pathname: string): string {
  const lastSlash = pathname.lastIndexOf("/");
  return lastSlash <= 0 ? "/" : pathname.slice(0, lastSlash);
}

/** RFC 6265 §5.1.4 path-match. */
function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith("/") || requestPath.charAt(cookiePath.length) === "/";
}
