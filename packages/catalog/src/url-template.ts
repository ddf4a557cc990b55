/**
 * URL templates: catalog URLs such as `https://{shop}.myshopify.com/admin/oauth/authorize` or
 * `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`, filled with per-connection
 * values (a shop, a tenant, a region).
 *
 * A value can never move a request to a host the template does not name. A template sits in one
 * of three slots, decided by where it is written:
 * - a **host label** (`{shop}.myshopify.com`): the value is one DNS label (`label` values, no dot,
 *   slash, colon or `@`) or one of a closed list of hosts (`choice` values); the fixed labels
 *   after it are kept, and a one-label value must be followed by at least two of them;
 * - a **path segment** (`/{tenant}/oauth2`): the value becomes one percent-encoded segment, never
 *   `.` or `..`;
 * - the **base URL** at the very start (`{base_url}/realms/{realm}`): an https origin with an
 *   optional path, which only a connector's admin (or the provider itself) supplies.
 * Templates are refused in the scheme, port, user info, query and fragment.
 */

export type ValueFormat = "label" | "choice" | "base_url";

/** What fillTemplate needs to know of a declared value. */
export interface TemplateValueSpec {
  readonly name: string;
  readonly format: ValueFormat;
  /** Anchored regular-expression source (`^…$`); for `choice` values it is derived from `choices`. */
  readonly pattern?: string | undefined;
  readonly choices?: readonly string[] | undefined;
}

export type TemplateSlot = "host" | "path" | "base_url";

export interface TemplateUse {
  readonly name: string;
  readonly slot: TemplateSlot;
}

/**
 * A value every URL may use without declaring it: the connector's client id, which some
 * revocation URLs carry in their path (GitHub `/applications/{client_id}/grant`). Path only.
 */
export const builtInTemplateValues: readonly TemplateValueSpec[] = [
  { name: "client_id", format: "label", pattern: "^[\\x21-\\x7E]{1,512}$" },
];

export class TemplateError extends Error {
  override readonly name = "TemplateError";
}

const templateName = "[a-z][a-z0-9_]{0,39}";
const wholeTemplate = new RegExp(`^\\{(${templateName})\\}$`);
const leadingTemplate = new RegExp(`^\\{(${templateName})\\}`);
const fixedHostLabel = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const dnsLabel = fixedHostLabel;
const dnsName = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const fixedSegment = /^[A-Za-z0-9._~!$&'()*+,;=:@%-]*$/;

type HostPart = { fixed: string } | { template: string };

interface ParsedUrl {
  /** Set when the URL starts with `{name}` (a base-URL slot); then there is no host. */
  baseUrl: string | null;
  host: HostPart[];
  port: string;
  /** Path segments after the first `/` (templated segments as `{template}`). */
  path: HostPart[];
  /** Query, with its `?`, or "". */
  query: string;
}

function parse(url: string): { ok: true; parsed: ParsedUrl } | { ok: false; problem: string } {
  let rest: string;
  let baseUrl: string | null = null;
  const host: HostPart[] = [];
  let port = "";
  const leading = leadingTemplate.exec(url);
  if (leading) {
    baseUrl = leading[1] ?? "";
    rest = url.slice(leading[0].length);
    if (rest !== "" && !rest.startsWith("/")) return { ok: false, problem: "a base-URL template is followed by /" };
  } else {
    const match = /^https:\/\/([^/?#]*)(.*)$/s.exec(url);
    if (!match) return { ok: false, problem: "must start with https:// or a base-URL template" };
    const authority = match[1] ?? "";
    rest = match[2] ?? "";
    if (authority.includes("@")) return { ok: false, problem: "must not carry user info" };
    const hostPort = /^([^:]*)(?::([0-9]{1,5}))?$/.exec(authority);
    if (!hostPort) return { ok: false, problem: "a port is digits only, never a template" };
    port = hostPort[2] ?? "";
    const labels = (hostPort[1] ?? "").split(".");
    for (const label of labels) {
      const template = wholeTemplate.exec(label);
      if (template) host.push({ template: template[1] ?? "" });
      else if (fixedHostLabel.test(label)) host.push({ fixed: label });
      else if (label.includes("{") || label.includes("}"))
        return { ok: false, problem: "a template in a host is a whole label, such as {shop}.example.com" };
      else return { ok: false, problem: `"${label}" is not a lowercase host label` };
    }
  }
  if (rest.includes("#")) return { ok: false, problem: "must not have a fragment" };
  const queryAt = rest.indexOf("?");
  const pathText = queryAt === -1 ? rest : rest.slice(0, queryAt);
  const query = queryAt === -1 ? "" : rest.slice(queryAt);
  if (query.includes("{") || query.includes("}")) return { ok: false, problem: "templates are not allowed in a query" };
  const path: HostPart[] = [];
  if (pathText !== "") {
    for (const segment of pathText.slice(1).split("/")) {
      const template = wholeTemplate.exec(segment);
      if (template) path.push({ template: template[1] ?? "" });
      else if (segment.includes("{") || segment.includes("}"))
        return { ok: false, problem: "a template in a path is a whole segment, such as /{tenant}/" };
      else if (!fixedSegment.test(segment)) return { ok: false, problem: `path segment "${segment}" is not URL-safe` };
      else path.push({ fixed: segment });
    }
  }
  return { ok: true, parsed: { baseUrl, host, port, path, query } };
}

/** The templates a URL uses and where. Throws TemplateError when a template sits where none may. */
export function templateUses(url: string): TemplateUse[] {
  const result = parse(url);
  if (!result.ok) throw new TemplateError(result.problem);
  const { baseUrl, host, path } = result.parsed;
  const uses: TemplateUse[] = [];
  if (baseUrl !== null) uses.push({ name: baseUrl, slot: "base_url" });
  for (const part of host) if ("template" in part) uses.push({ name: part.template, slot: "host" });
  for (const part of path) if ("template" in part) uses.push({ name: part.template, slot: "path" });
  return uses;
}

function labelCount(spec: TemplateValueSpec | undefined): number {
  if (spec?.format === "choice" && spec.choices && spec.choices.length > 0) {
    return Math.min(...spec.choices.map((choice) => choice.split(".").length));
  }
  return 1;
}

function findSpec(specs: readonly TemplateValueSpec[], name: string): TemplateValueSpec | undefined {
  return specs.find((spec) => spec.name === name) ?? builtInTemplateValues.find((spec) => spec.name === name);
}

/**
 * Every reason this templated URL is unsafe or incomplete with these declared values: an
 * undeclared template, a value format in a slot it may not fill, a host left without a fixed
 * domain. An empty list means fillTemplate can fill it.
 */
export function templateUrlProblems(url: string, specs: readonly TemplateValueSpec[]): string[] {
  const result = parse(url);
  if (!result.ok) return [result.problem];
  const { baseUrl, host, path } = result.parsed;
  const problems: string[] = [];
  const check = (name: string, slot: TemplateSlot): TemplateValueSpec | undefined => {
    const spec = findSpec(specs, name);
    if (!spec) problems.push(`{${name}} is not a declared connection value`);
    else if (spec.name === "client_id" && !specs.includes(spec) && slot !== "path")
      problems.push("{client_id} may only fill a path segment");
    else if (spec.format === "base_url" && slot !== "base_url")
      problems.push(`{${name}} is a base URL: it may only start a URL`);
    else if (spec.format !== "base_url" && slot === "base_url")
      problems.push(`{${name}} starts the URL but is not a base_url value`);
    return spec;
  };
  if (baseUrl !== null) check(baseUrl, "base_url");
  host.forEach((part, index) => {
    if (!("template" in part)) return;
    const spec = check(part.template, "host");
    if (spec?.format !== "label") return;
    const after = host.slice(index + 1);
    const fixedAfter = after.reduce(
      (count, next) => count + ("fixed" in next ? 1 : labelCount(findSpec(specs, next.template))),
      0,
    );
    if (fixedAfter < 2)
      problems.push(`{${part.template}} in a host needs at least two fixed labels after it (a domain it stays under)`);
  });
  for (const part of path) if ("template" in part) check(part.template, "path");
  return problems;
}

/** Whether an anchored pattern matches the whole value. */
function matchesPattern(pattern: string | undefined, value: string): boolean {
  if (pattern === undefined) return true;
  return new RegExp(pattern, "u").test(value);
}

function hostValue(spec: TemplateValueSpec, value: string): string {
  if (spec.format === "choice") {
    if (!spec.choices?.includes(value)) throw new TemplateError(`{${spec.name}} must be one of the listed values`);
    if (!dnsName.test(value)) throw new TemplateError(`{${spec.name}} is not a host name`);
    return value;
  }
  if (!matchesPattern(spec.pattern, value)) throw new TemplateError(`{${spec.name}} does not match its pattern`);
  if (!dnsLabel.test(value)) throw new TemplateError(`{${spec.name}} must be one lowercase DNS label`);
  return value;
}

function pathValue(spec: TemplateValueSpec, value: string): string {
  if (spec.format === "choice" ? !spec.choices?.includes(value) : !matchesPattern(spec.pattern, value)) {
    throw new TemplateError(`{${spec.name}} does not match its pattern`);
  }
  if (value === "" || value === "." || value === "..")
    throw new TemplateError(`{${spec.name}} cannot be an empty or dot segment`);
  return encodeURIComponent(value);
}

/** An https origin with an optional path, written in its normal form (no trailing slash, no dot segments). */
function baseUrlValue(spec: TemplateValueSpec, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TemplateError(`{${spec.name}} is not a URL`);
  }
  const normal = `${url.origin}${url.pathname === "/" ? "" : url.pathname}`;
  if (url.protocol !== "https:" || url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    throw new TemplateError(`{${spec.name}} must be an https URL without user info, query or fragment`);
  }
  if (value !== normal) throw new TemplateError(`{${spec.name}} must be written as ${normal}`);
  if (!matchesPattern(baseUrlPattern, value) || !matchesPattern(spec.pattern, value)) {
    throw new TemplateError(`{${spec.name}} does not match its pattern`);
  }
  return url;
}

/**
 * Fills a catalog URL's templates with per-connection values, checking each value against its
 * declaration and the slot it fills. Throws TemplateError (whose message names the template,
 * never echoes the value) when a value is missing, malformed, or would change the host.
 */
export function fillTemplate(
  url: string,
  values: Readonly<Record<string, string | undefined>>,
  specs: readonly TemplateValueSpec[],
): string {
  const problems = templateUrlProblems(url, specs);
  if (problems.length > 0) throw new TemplateError(problems.join("; "));
  const result = parse(url);
  if (!result.ok) throw new TemplateError(result.problem);
  const { baseUrl, host, port, path, query } = result.parsed;
  const declaredValue = (name: string): [TemplateValueSpec, string] => {
    const spec = findSpec(specs, name);
    const value = Object.hasOwn(values, name) ? values[name] : undefined;
    if (!spec) throw new TemplateError(`{${name}} is not declared`);
    if (value === undefined) throw new TemplateError(`{${name}} has no value`);
    return [spec, value];
  };

  let origin: string;
  let basePath = "";
  let expectedHost: string;
  if (baseUrl !== null) {
    const base = baseUrlValue(...declaredValue(baseUrl));
    origin = base.origin;
    basePath = base.pathname === "/" ? "" : base.pathname;
    expectedHost = base.host;
  } else {
    const labels = host.map((part) => ("fixed" in part ? part.fixed : hostValue(...declaredValue(part.template))));
    expectedHost = labels.join(".") + (port === "" ? "" : `:${port}`);
    origin = `https://${expectedHost}`;
  }
  const segments = path.map((part) => ("fixed" in part ? part.fixed : pathValue(...declaredValue(part.template))));
  const filled = `${origin}${basePath}${path.length > 0 ? `/${segments.join("/")}` : ""}${query}`;

  // Defence in depth: what a URL parser makes of the result must keep the host the template named.
  const check = new URL(filled);
  if (check.protocol !== "https:" || check.host !== expectedHost || check.username !== "" || check.password !== "") {
    throw new TemplateError("the filled URL does not keep the template's host");
  }
  return filled;
}

/** The anchored pattern a value must match, as shown to API clients (`choice` values list their choices). */
export function valuePattern(spec: TemplateValueSpec): string {
  if (spec.format === "choice") {
    const escaped = (spec.choices ?? []).map((choice) => choice.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    return `^(?:${escaped.join("|")})$`;
  }
  if (spec.pattern !== undefined) return spec.pattern;
  return spec.format === "base_url" ? baseUrlPattern : "^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$";
}

/** Any https origin with an optional path; a base URL's own pattern may narrow it. */
export const baseUrlPattern =
  "^https://[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~-]+)*$";
