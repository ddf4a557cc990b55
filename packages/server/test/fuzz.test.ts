/**
 * Bad input, tried by the thousand: a property-based fuzz (fast-check) over every operation the
 * app documents in its own /openapi.json. Each case is one request: an operation, its path ids
 * (this tenant's, another tenant's, garbage, huge, unicode, NUL, traversal), its query (from the
 * schema, plus junk), a body made from the operation's JSON schema and then perhaps broken (wrong
 * types, extra or missing fields, huge strings, deep nesting, invalid JSON or UTF-8, other
 * content types), and headers (every credential kind, right or wrong for the route, missing or
 * malformed; X-App-Id; on-behalf-of; cookies).
 *
 * For every case: never a 5xx; every refusal is the JSON error envelope with a code from the
 * error table, at that code's status (except the documented non-JSON answers: the callback's 302
 * and its HTML page); no planted secret in the answer (body or headers) or in any log line it
 * wrote; no stack frame or SQL in the answer; and a 4xx leaves the database exactly as it was
 * (every table hashed after every case; see support/database-fingerprint.ts).
 *
 * LATCHKEY_FUZZ_RUNS (default 1000) sets the number of cases; the seed is printed, and
 * LATCHKEY_FUZZ_SEED=<seed> replays a run.
 */
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { isErrorCode, statusOf } from "@latchkey/contracts";
import { sessionCookie } from "../src/access/console-sessions.ts";
import { decryptRefreshToken } from "../src/connections/connection-store.ts";
import {
  appOrigin,
  connectShared,
  connectTestbed,
  createConnector,
  createLatchkeyIdentityApp,
  json,
  Secrets,
  tokenFor,
  userToken,
  type Tenant,
} from "./support/connect-testbed.ts";
import { databaseFingerprint } from "./support/database-fingerprint.ts";
import { addMember, createWorkspace } from "./support/tenants.ts";
import { testOperatorKey } from "./support/test-app.ts";
import { testDbKind } from "./support/test-database.ts";

const kind = testDbKind();

/** The cases per run and the seed, from the environment (a failure prints the seed to replay it). */
function fuzzSettings(env: Record<string, string | undefined> = process.env): { runs: number; seed: number } {
  const runs = Number(env.LATCHKEY_FUZZ_RUNS ?? 1000);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`LATCHKEY_FUZZ_RUNS must be a positive integer`);
  const seed = env.LATCHKEY_FUZZ_SEED === undefined ? randomBytes(4).readInt32LE() : Number(env.LATCHKEY_FUZZ_SEED);
  if (!Number.isInteger(seed)) throw new Error(`LATCHKEY_FUZZ_SEED must be an integer`);
  return { runs, seed };
}

// ---------------------------------------------------------------------------------------------
// The subset of JSON Schema /openapi.json uses for request bodies and query parameters.

interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  enum?: unknown[];
  const?: unknown;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
}

/** Values a field of this name would plausibly hold, so valid-ish bodies get past validation. */
interface FieldHints {
  urls: string[];
  origins: string[];
}

/**
 * An arbitrary of values valid-ish for `schema` (the keywords above; anything else: any JSON).
 * Strings are kept short unless the schema asks for more; names pick emails, URLs and origins.
 */
function arbitraryOf(
  schema: JsonSchema,
  resolve: (ref: string) => JsonSchema,
  hints: FieldHints,
  name = "",
): fc.Arbitrary<unknown> {
  if (schema.$ref) return arbitraryOf(resolve(schema.$ref), resolve, hints, name);
  if ("const" in schema) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const alternatives = schema.oneOf ?? schema.anyOf;
  if (alternatives) return fc.oneof(...alternatives.map((alt) => arbitraryOf(alt, resolve, hints, name)));
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case "string":
      return stringOf(schema, hints, name);
    case "integer":
      return fc.integer({ min: schema.minimum ?? -1_000_000, max: schema.maximum ?? 1_000_000 });
    case "number":
      return fc.double({ min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6, noNaN: true });
    case "boolean":
      return fc.boolean();
    case "null":
      return fc.constant(null);
    case "array": {
      const items = schema.items ? arbitraryOf(schema.items, resolve, hints, name) : fc.jsonValue({ maxDepth: 1 });
      const minLength = schema.minItems ?? 0;
      return fc.array(items, { minLength, maxLength: Math.min(schema.maxItems ?? 3, Math.max(minLength, 3)) });
    }
    case "object":
      return objectOf(schema, resolve, hints);
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

function objectOf(schema: JsonSchema, resolve: (ref: string) => JsonSchema, hints: FieldHints): fc.Arbitrary<unknown> {
  const properties = Object.entries(schema.properties ?? {});
  const known = fc.record(
    Object.fromEntries(properties.map(([key, child]) => [key, arbitraryOf(child, resolve, hints, key)])),
    { requiredKeys: (schema.required ?? []).filter((key) => schema.properties?.[key]) },
  );
  const extra = schema.additionalProperties;
  if (extra === undefined || extra === false || properties.length > 0) return known;
  const keys = schema.propertyNames ? stringOf(schema.propertyNames, hints, "") : fc.string({ maxLength: 12 });
  const values = extra === true ? fc.jsonValue({ maxDepth: 2 }) : arbitraryOf(extra, resolve, hints, "");
  return fc.dictionary(keys, values, { maxKeys: 3 });
}

function stringOf(schema: JsonSchema, hints: FieldHints, name: string): fc.Arbitrary<string> {
  const maxLength = schema.maxLength ?? 64;
  const fit = (arbitrary: fc.Arbitrary<string>) => arbitrary.map((value) => value.slice(0, maxLength));
  if (/email/.test(name)) return fit(fc.emailAddress());
  if (/origins/.test(name)) return fc.constantFrom(...hints.origins);
  if (/(_url|^issuer|^return_to)$/.test(name)) return fc.constantFrom(...hints.urls);
  if (schema.pattern) return fit(fc.stringMatching(new RegExp(schema.pattern)));
  const minLength = Math.min(schema.minLength ?? 0, maxLength);
  const length = { minLength, maxLength: Math.min(maxLength, Math.max(minLength, 24)) };
  return fc.oneof(
    { weight: 3, arbitrary: fc.string(length) },
    { weight: 1, arbitrary: fc.string({ ...length, unit: "grapheme" }) },
  );
}

// ---------------------------------------------------------------------------------------------
// Breaking things.

/** Values that belong in no field: wrong types, NUL, lone surrogates, bidi controls, huge strings. */
const badValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    null,
    0,
    -1,
    1.5,
    1e308,
    -1e308,
    true,
    false,
    "",
    " ",
    [],
    {},
    [null],
    { "k\u0000": 1 },
    "a\u0000b",
    "\u0000",
    "x\ud800",
    "\udfff",
    "ünïcödé 𝕏 \u202e",
    "%00",
    "%E0%A4%A",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "'; drop table apps; --",
    "__proto__",
    { __proto__: { admin: true } },
    "javascript:alert(1)",
    "http://169.254.169.254/latest/meta-data/",
  ),
  fc.string({ unit: "binary", maxLength: 16 }),
  fc.integer(),
  fc.double(),
  fc.integer({ min: 1_000, max: 70_000 }).map((n) => "h".repeat(n)),
  fc.integer({ min: 50, max: 2_000 }).map((depth) => nested(depth)),
  fc.jsonValue({ maxDepth: 3 }),
);

function nested(depth: number): unknown {
  let value: unknown = [];
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { a: value };
  return value;
}

type Mutation =
  | { kind: "none" }
  | { kind: "replace"; pick: number; value: unknown }
  | { kind: "drop"; pick: number }
  | { kind: "extra"; key: string; value: unknown };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: "none" as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("replace" as const), pick: fc.nat(), value: badValue }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("drop" as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("extra" as const),
      key: fc.oneof(fc.constantFrom("__proto__", "constructor", "id", "workspace_id", "role", "admin"), fc.string()),
      value: badValue,
    }),
  },
);

/** Every place in a JSON value (object fields and array items), as key paths. */
function placesIn(value: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== "object") return [];
  const places: (string | number)[][] = [];
  const entries: [string | number, unknown][] = Array.isArray(value)
    ? value.map((item, index) => [index, item])
    : Object.entries(value);
  for (const [key, child] of entries) places.push([...path, key], ...placesIn(child, [...path, key]));
  return places;
}

function applyMutation(value: unknown, change: Mutation): unknown {
  if (change.kind === "none") return value;
  if (change.kind === "extra") {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
    const copy: Record<string, unknown> = { ...value };
    Object.defineProperty(copy, change.key, { value: change.value, enumerable: true, writable: true });
    return copy;
  }
  const places = placesIn(value);
  const place = places[change.pick % Math.max(places.length, 1)];
  if (!place) return change.kind === "replace" ? change.value : value;
  const rebuild = (node: unknown, rest: (string | number)[]): unknown => {
    const [key, ...deeper] = rest;
    if (key === undefined || node === null || typeof node !== "object") return node;
    if (Array.isArray(node)) {
      const copy = [...node];
      if (deeper.length > 0) copy[Number(key)] = rebuild(copy[Number(key)], deeper);
      else if (change.kind === "replace") copy[Number(key)] = change.value;
      else copy.splice(Number(key), 1);
      return copy;
    }
    const copy: Record<string, unknown> = { ...node };
    const name = String(key);
    if (deeper.length > 0) copy[name] = rebuild(copy[name], deeper);
    else if (change.kind === "replace") Object.defineProperty(copy, name, { value: change.value, enumerable: true });
    else delete copy[name];
    return copy;
  };
  return rebuild(value, place);
}

/** Whole bodies of the wrong kind. */
const rawBodies: [label: string, body: string | Uint8Array][] = [
  ["an array", "[]"],
  ["an array of objects", "[{}]"],
  ["a string", '"x"'],
  ["a number", "42"],
  ["null", "null"],
  ["empty", ""],
  ["invalid JSON", '{"a":'],
  ["a raw NUL in a JSON string", '{"name":"a\u0000b"}'],
  ["an escaped NUL key", '{"\\u0000":1}'],
  ["a lone surrogate escape", '{"name":"\\ud800","email":"\\udfff"}'],
  ["__proto__ and constructor keys", '{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}'],
  ["arrays nested 5000 deep", `${"[".repeat(5000)}${"]".repeat(5000)}`],
  ["objects nested 3000 deep", `${'{"a":'.repeat(3000)}1${"}".repeat(3000)}`],
  [
    "invalid UTF-8",
    new Uint8Array([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80, 0x22, 0x7d]),
  ],
  ["a byte order mark", "\ufeff{}"],
  ["two JSON values", "{} {}"],
  ["a huge array", JSON.stringify(Array(10_000).fill(0))],
  ["over the body limit", `{"name":"${"x".repeat(70_000)}"}`],
  ["a form", "a=b&c=d"],
];

type BodyPlan =
  | { kind: "none" }
  | { kind: "json"; value: unknown; change: Mutation; contentType: string | undefined }
  | { kind: "raw"; label: string; body: string | Uint8Array; contentType: string | undefined };

const contentType: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 8, arbitrary: fc.constant("application/json") },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      undefined,
      "application/json; charset=utf-8",
      "APPLICATION/JSON",
      "application/json; charset=utf-16",
      "application/merge-patch+json",
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/xml",
      "",
      ";;;",
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
);

function bodyPlan(schema: fc.Arbitrary<unknown> | undefined, method: string): fc.Arbitrary<BodyPlan> {
  const raw = fc.record({
    kind: fc.constant("raw" as const),
    label: fc.constant(""),
    body: fc.oneof(
      fc.constantFrom(...rawBodies.map(([, body]) => body)),
      fc.string({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 64 }),
    ),
    contentType,
  });
  if (method === "get") return fc.constant({ kind: "none" as const });
  const json = fc.record({
    kind: fc.constant("json" as const),
    value: schema ?? fc.jsonValue({ maxDepth: 2 }),
    change: mutation,
    contentType,
  });
  if (!schema) return fc.oneof({ weight: 4, arbitrary: fc.constant({ kind: "none" as const }) }, json, raw);
  return fc.oneof(
    { weight: 6, arbitrary: json },
    { weight: 1, arbitrary: fc.constant({ kind: "none" as const }) },
    {
      weight: 2,
      arbitrary: raw,
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Path segments, query strings and headers.

/** Path segments sent as they are (already percent-encoded, or meant to be broken). */
const rawSegments = [
  "%00",
  "a%00b",
  "%E0%A4%A",
  "%ED%A0%80",
  "%FF%FE",
  "%C0%80",
  "%",
  "%G0",
  "%F0%9F%92%A9%C3%BC%E2%80%AE",
  "..",
  "..%2F..%2Fapi",
  "%2e%2e",
  "%2F",
  ".",
  "%20",
  "__proto__",
  "-1",
  "0",
  "null",
  "undefined",
  "*",
  "'%20or%201%3D1--",
];

type Segment = { kind: "own" } | { kind: "other" } | { kind: "raw"; text: string } | { kind: "text"; text: string };

const segment: fc.Arbitrary<Segment> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: "own" as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: "other" as const }) },
  { weight: 2, arbitrary: fc.constantFrom(...rawSegments).map((text) => ({ kind: "raw" as const, text })) },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.string({ minLength: 1, maxLength: 40, unit: "grapheme" }),
        fc.integer({ min: 256, max: 6_000 }).map((n) => "x".repeat(n)),
      )
      .map((text) => ({ kind: "text" as const, text })),
  },
);

function encodeSafely(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return text;
  }
}

const queryJunk = fc.constantFrom(
  "%00=%00",
  "x=%E0%A4%A&%ED%A0%80=1",
  "%=%",
  "&&&=&",
  "a[]=1&a[b]=2",
  "__proto__[admin]=1",
  `q=${"q".repeat(5_000)}`,
);

function queryValue(schema: JsonSchema): fc.Arbitrary<string> {
  const plausible =
    schema.enum !== undefined
      ? fc.constantFrom(...schema.enum.map(String))
      : schema.type === "integer"
        ? fc.integer({ min: (schema.minimum ?? 0) - 2, max: (schema.maximum ?? 1000) + 2 }).map(String)
        : fc.string({ maxLength: 24 }).map(encodeSafely);
  return fc.oneof(
    { weight: 3, arbitrary: plausible },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        "",
        "%00",
        "a%00b",
        "%E0%A4%A",
        "%ED%A0%80",
        "%FF",
        "-1",
        "1e400",
        "NaN",
        "x".repeat(300),
      ),
    },
  );
}

/** Header values must be ByteStrings without NUL, CR or LF: printable ASCII, plus a few Latin-1 ones. */
const headerJunk = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.constantFrom(
    "",
    " ",
    "Bearer",
    "Bearer ",
    "Bearer  x",
    "bearer",
    "Basic dXNlcjpwYXNz",
    "Bearer \u00ff\u00fe",
    "null",
  ),
  fc.integer({ min: 1_000, max: 8_000 }).map((n) => `Bearer ${"k".repeat(n)}`),
);

// ---------------------------------------------------------------------------------------------

interface Operation {
  method: string;
  path: string;
  params: string[];
  query: [name: string, schema: JsonSchema][];
  security: string[];
  body: fc.Arbitrary<unknown> | undefined;
}

interface OpenApi {
  paths: Record<
    string,
    Record<
      string,
      {
        security?: Record<string, string[]>[];
        parameters?: { name: string; in: string; schema: JsonSchema }[];
        requestBody?: { content: Record<string, { schema: JsonSchema }> };
      }
    >
  >;
  components: { schemas: Record<string, JsonSchema> };
}

interface Case {
  op: Operation;
  segments: Segment[];
  query: { known: (string | null)[]; junk: string | null };
  auth: string;
  onBehalfOf: string | null;
  appIdHeader: string | null;
  cookie: string | null;
  accept: string | null;
  body: BodyPlan;
}

/** Stack frames, source paths and SQL: nothing of the server's insides may reach a client. */
const insides = [
  /^\s+at .+[:(]\d+:\d+\)?$/m,
  /\bat (async )?[\w$.<>]+ \(/,
  /node_modules|\.ts:\d+/,
  /\b(SELECT|INSERT INTO|DELETE FROM|UPDATE \w+ SET)\b/,
  /syntax error|relation "|violates .* constraint/i,
];

describe(`fuzz: every documented operation, bad input by the thousand (${kind})`, () => {
  const bed = connectTestbed();
  /** Never in any answer or log line. */
  const secrets = bed.secrets;
  /** Access tokens of the fixture's connections: only the token routes may answer them. */
  const servedTokens = new Secrets();
  const own: Record<string, string> = {};
  const spare: Record<string, string> = {};
  const other: Record<string, string> = {};
  const credentials: Record<string, string> = {};
  let spareServiceKeyId = "";
  let tenant: Tenant;
  let otherTenant: Tenant;
  let openApi: OpenApi;

  beforeAll(async () => {
    const { t, harness } = bed;
    tenant = bed.tenant;
    const ws = `/api/workspaces/${tenant.workspaceId}`;
    const adminMembers = await json<{ members: { id: string; role: string }[] }>(
      await t.call("GET", `${ws}/members`, { token: tenant.adminKey }),
      200,
    );
    const adminMemberId = adminMembers.members[0]?.id ?? "";
    const member = await addMember(t, { id: tenant.workspaceId, adminKey: tenant.adminKey, adminMemberId }, "member");
    const alice = await bed.tokenOf("alice");
    const bob = await bed.tokenOf("bob");
    const spareApp = await createLatchkeyIdentityApp(t, tenant);
    const spareConnector = await createConnector(t, harness, tenant);
    secrets.add(member.key, spareApp.serviceKey, spareConnector.clientSecret, testOperatorKey);
    await bed.connect(alice, "alice-login");
    await bed.connect(bob, "bob-login");
    await bed.connect(alice, "alice-spare-login", { appId: tenant.appId, connectorId: spareConnector.connectorId });
    await connectShared(t, harness, tenant, "shared-login");

    otherTenant = await bed.newTenant();
    const eve = await userToken(t, otherTenant, "eve");
    secrets.add(otherTenant.adminKey, otherTenant.serviceKey, otherTenant.clientSecret, eve);
    const otherMembers = await json<{ members: { id: string }[] }>(
      await t.call("GET", `/api/workspaces/${otherTenant.workspaceId}/members`, { token: otherTenant.adminKey }),
      200,
    );
    const spareWorkspace = await createWorkspace(t);
    secrets.add(spareWorkspace.adminKey);

    // Every token the fixture's connections hold: the access tokens as served, the refresh tokens as stored.
    for (const user of [alice, bob]) {
      servedTokens.add((await json<{ access_token: string }>(await tokenFor(t, tenant, user), 200)).access_token);
    }
    const shared = await json<{ access_token: string }>(
      await t.call("GET", `/api/apps/${tenant.appId}/external-auth/tokens/connectors/${tenant.connectorId}`, {
        token: tenant.serviceKey,
      }),
      200,
    );
    servedTokens.add(shared.access_token);
    const rows = await t.deps.db.selectFrom("connections").selectAll().execute();
    for (const row of rows) secrets.add(decryptRefreshToken(t.deps.vault, row));

    const connections = await json<{ connections: { id: string; user_id: string | null; connector_id: string }[] }>(
      await t.call("GET", `${ws}/connections`, { token: tenant.adminKey }),
      200,
    );
    const connectionOf = (user: string) =>
      connections.connections.find((c) => c.user_id === user && c.connector_id === tenant.connectorId)?.id ?? "";
    const spareAdminKey = await json<{ key: { id: string }; api_key: string }>(
      await t.call("POST", `${ws}/api-keys`, { token: tenant.adminKey, body: { name: "spare" } }),
      201,
    );
    const spareServiceKey = await json<{ key: { id: string }; service_key: string }>(
      await t.call("POST", `${ws}/apps/${tenant.appId}/service-keys`, {
        token: tenant.adminKey,
        body: { name: "spare" },
      }),
      201,
    );
    const spareMember = await addMember(
      t,
      { id: tenant.workspaceId, adminKey: tenant.adminKey, adminMemberId },
      "admin",
    );
    secrets.add(spareAdminKey.api_key, spareServiceKey.service_key, spareMember.key);
    spareServiceKeyId = spareServiceKey.key.id;
    const providers = await json<{ providers: { id: string }[] }>(await t.call("GET", "/api/providers"), 200);

    Object.assign(own, {
      workspaceId: tenant.workspaceId,
      appId: tenant.appId,
      connectorId: tenant.connectorId,
      memberId: adminMemberId,
      userId: "alice",
      provider: "oidc",
      providerId: providers.providers[0]?.id ?? "github",
      connectionId: connectionOf("alice"),
      keyId: spareAdminKey.key.id,
      sessionId: "ses_0000000000000000",
      integrationType: "oidc",
      file: "index.html",
    });
    // The last path id of a PATCH or DELETE: things the fuzz may change or delete without
    // breaking the fixture every other case relies on.
    Object.assign(spare, {
      workspaceId: spareWorkspace.id,
      appId: spareApp.appId,
      connectorId: spareConnector.connectorId,
      memberId: spareMember.id,
      connectionId: connectionOf("bob"),
    });
    Object.assign(other, {
      workspaceId: otherTenant.workspaceId,
      appId: otherTenant.appId,
      connectorId: otherTenant.connectorId,
      memberId: otherMembers.members[0]?.id ?? "",
      userId: "eve",
    });
    const forged = await new SignJWT({ sub: "alice" })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer(t.deps.config.publicUrl)
      .setAudience(tenant.appId)
      .setExpirationTime("1h")
      .sign(randomBytes(32));
    Object.assign(credentials, {
      operator: testOperatorKey,
      admin: tenant.adminKey,
      member: member.key,
      service: tenant.serviceKey,
      user: alice,
      otherAdmin: otherTenant.adminKey,
      otherService: otherTenant.serviceKey,
      otherUser: eve,
      forgedUser: forged,
      wrongAdmin: `lk_admin_${randomBytes(32).toString("base64url")}`,
      wrongService: `lk_svc_${randomBytes(32).toString("base64url")}`,
      wrongOperator: `op_${randomBytes(32).toString("base64url")}`,
    });

    openApi = (await json<OpenApi>(await t.call("GET", "/openapi.json"), 200)) as OpenApi;
  }, 180_000);

  function operations(): Operation[] {
    const hints: FieldHints = {
      origins: [appOrigin, "http://localhost:5173", "https://evil.example", "null", "*"],
      urls: [
        `${appOrigin}/back`,
        appOrigin,
        bed.harness.issuer,
        "https://provider.example.test/oauth",
        "https://evil.example/",
        "http://127.0.0.1:9/",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "//evil.example",
      ],
    };
    const resolve = (ref: string): JsonSchema => {
      const schema = openApi.components.schemas[ref.replace("#/components/schemas/", "")];
      if (!schema) throw new Error(`unresolved ${ref}`);
      return schema;
    };
    const ops: Operation[] = [];
    for (const [path, methods] of Object.entries(openApi.paths)) {
      for (const [method, doc] of Object.entries(methods)) {
        const schema = doc.requestBody?.content["application/json"]?.schema;
        ops.push({
          method,
          path,
          params: (doc.parameters ?? []).filter((p) => p.in === "path").map((p) => p.name),
          query: (doc.parameters ?? []).filter((p) => p.in === "query").map((p) => [p.name, p.schema]),
          security: Object.keys(doc.security?.[0] ?? {}),
          body: schema && arbitraryOf(schema, resolve, hints),
        });
      }
    }
    return ops;
  }

  /** Mostly the credential the route wants; often another kind, a wrong one, or none at all. */
  function authFor(op: Operation): fc.Arbitrary<string> {
    const right = op.security.includes("operatorKey")
      ? "operator"
      : op.security.includes("adminApiKey")
        ? "admin"
        : op.security.includes("serviceKey")
          ? "service"
          : op.security.includes("userToken")
            ? "user"
            : "none";
    return fc.oneof(
      { weight: 5, arbitrary: fc.constant(`kind:${right}`) },
      { weight: 3, arbitrary: fc.constantFrom("kind:none", ...Object.keys(credentials).map((k) => `kind:${k}`)) },
      { weight: 1, arbitrary: fc.constantFrom("almost:admin", "almost:service", "almost:user", "lower:admin") },
      { weight: 1, arbitrary: headerJunk.map((value) => `raw:${value}`) },
    );
  }

  function caseOf(op: Operation): fc.Arbitrary<Case> {
    const wantsOnBehalf = op.security.includes("onBehalfOf");
    const credential = fc.constantFrom(...Object.keys(credentials)).map((k) => `Bearer ${credentials[k] ?? ""}`);
    return fc.record({
      op: fc.constant(op),
      segments: fc.oneof(
        fc.constant(op.params.map(() => ({ kind: "own" as const }))),
        fc.array(segment, { minLength: op.params.length, maxLength: op.params.length }),
      ),
      query: fc.record({
        known: fc.tuple(...op.query.map(([, schema]) => fc.option(queryValue(schema), { freq: 2 }))),
        junk: fc.option(queryJunk, { freq: 4 }),
      }),
      auth: authFor(op),
      onBehalfOf: wantsOnBehalf
        ? fc.oneof(
            { weight: 4, arbitrary: fc.constant(`Bearer ${credentials.user ?? ""}`) },
            { weight: 2, arbitrary: credential },
            { weight: 1, arbitrary: headerJunk },
            { weight: 1, arbitrary: fc.constant(null) },
          )
        : fc.option(fc.oneof(credential, headerJunk), { freq: 8 }),
      appIdHeader: fc.option(
        fc.oneof(fc.constantFrom(own.appId ?? "", other.appId ?? "", spare.appId ?? ""), fc.string({ maxLength: 40 })),
        { freq: 5 },
      ),
      cookie: fc.option(
        fc.oneof(
          fc.string({ maxLength: 60 }).map((value) => `${sessionCookie("http://latchkey.test").name}=${value}`),
          fc.constant(`${sessionCookie("http://latchkey.test").name}=${"s".repeat(43)}`),
          headerJunk,
        ),
        { freq: 8 },
      ),
      accept: fc.option(fc.constantFrom("application/json", "text/html", "*/*", "application/xml", ""), { freq: 3 }),
      body: bodyPlan(op.body, op.method),
    });
  }

  function idFor(op: Operation, param: string, index: number, choice: Segment): string {
    if (choice.kind === "raw") return choice.text;
    if (choice.kind === "text") return encodeSafely(choice.text);
    const changes = op.method === "patch" || op.method === "delete";
    const last = index === op.params.length - 1;
    if (param === "keyId" && choice.kind === "own") {
      // The spare keys only: revoking the fixture's own keys would lock every later case out.
      return op.path.includes("service-keys") ? spareServiceKeyId : (own.keyId ?? "");
    }
    const pool = choice.kind === "other" ? other : changes && last ? { ...own, ...spare } : own;
    return encodeSafely(pool[param] ?? own[param] ?? `no-${param}`);
  }

  function render(c: Case): { path: string; init: RequestInit; label: string } {
    let index = 0;
    const path = c.op.path.replace(/\{(\w+)\}/g, (_, param: string) => {
      const i = index++;
      return idFor(c.op, param, i, c.segments[i] ?? { kind: "own" });
    });
    const pairs = c.op.query.flatMap(([name], i) => {
      const value = c.query.known[i];
      return value === null || value === undefined ? [] : [`${name}=${value}`];
    });
    if (c.query.junk !== null) pairs.push(c.query.junk);
    const url = pairs.length > 0 ? `${path}?${pairs.join("&")}` : path;

    const headers: Record<string, string> = {};
    const [how, what = ""] = c.auth.split(/:(.*)/s);
    if (how === "kind" && what !== "none") headers.authorization = `Bearer ${credentials[what] ?? ""}`;
    if (how === "almost") headers.authorization = `Bearer ${credentials[what] ?? ""}x`;
    if (how === "lower") headers.authorization = `bearer ${credentials[what] ?? ""}`;
    if (how === "raw") headers.authorization = what;
    if (c.onBehalfOf !== null) headers["on-behalf-of"] = c.onBehalfOf;
    if (c.appIdHeader !== null) headers["x-app-id"] = c.appIdHeader;
    if (c.cookie !== null) headers.cookie = c.cookie;
    if (c.accept !== null) headers.accept = c.accept;

    let body: string | Uint8Array<ArrayBuffer> | undefined;
    let bodyLabel = "no body";
    if (c.body.kind === "json") {
      const value = applyMutation(c.body.value, c.body.change);
      body = JSON.stringify(value) ?? "null";
      bodyLabel = `${c.body.change.kind} ${body.slice(0, 160)}`;
      if (c.body.contentType !== undefined) headers["content-type"] = c.body.contentType;
    } else if (c.body.kind === "raw") {
      body = typeof c.body.body === "string" ? c.body.body : new Uint8Array(c.body.body);
      bodyLabel = `raw ${typeof body === "string" ? body.slice(0, 80) : `bytes ${Buffer.from(body).toString("hex")}`}`;
      if (c.body.contentType !== undefined) headers["content-type"] = c.body.contentType;
    }
    const shown = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value.slice(0, 24)}`)
      .join("; ");
    return {
      path: url,
      init: { method: c.op.method.toUpperCase(), headers, ...(body !== undefined && { body }) },
      label: `${c.op.method.toUpperCase()} ${url.slice(0, 200)} [${shown}] ${bodyLabel}`,
    };
  }

  it(`holds for every case: no 5xx, the error envelope, no secret or insides in answers or logs, no change on a 4xx`, async () => {
    const { runs, seed } = fuzzSettings();
    console.log(`[fuzz] ${runs} cases, seed ${seed} (replay: LATCHKEY_FUZZ_SEED=${seed} LATCHKEY_FUZZ_RUNS=${runs})`);
    const ops = operations();
    expect(ops.length).toBeGreaterThanOrEqual(50);
    const fingerprint = await databaseFingerprint(bed.t);
    let before = await fingerprint();
    const byStatus = new Map<number, number>();
    const codes = new Set<string>();
    const seen = new Set<Operation>();
    let fingerprintMs = 0;
    const started = performance.now();

    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ops).chain((op) => caseOf(op)),
        async (c) => {
          const { path, init, label } = render(c);
          const firstLogLine = bed.t.logs.lines.length;
          const response = await bed.t.app.request(path, init);
          const text = await response.text();
          const status = response.status;
          const where = `${label} → ${status} ${text.slice(0, 300)}`;
          seen.add(c.op);
          byStatus.set(status, (byStatus.get(status) ?? 0) + 1);

          expect(status, where).toBeLessThan(500);
          const headerText = [...response.headers].map(([name, value]) => `${name}: ${value}`).join("\n");
          expect(secrets.foundIn(`${headerText}\n${text}`), `${where}: a secret in the answer`).toEqual([]);
          const tokenRoute = /\/token$|\/external-auth\/tokens\//.test(c.op.path) && c.op.method === "get";
          if (!(tokenRoute && status === 200)) {
            expect(servedTokens.foundIn(`${headerText}\n${text}`), `${where}: a token in the answer`).toEqual([]);
          }
          if (c.op.path !== "/openapi.json") {
            for (const pattern of insides) expect(text, `${where}: insides in the answer`).not.toMatch(pattern);
          }
          const logged = bed.t.logs.lines.slice(firstLogLine).join("\n");
          expect(secrets.foundIn(logged), `${where}: a secret in the log`).toEqual([]);
          expect(servedTokens.foundIn(logged), `${where}: a token in the log`).toEqual([]);
          expect(logged, where).not.toContain("unhandled error");

          // The documented non-JSON answers: redirects (the callback's, / to the console), and the
          // callback's small HTML page for a browser.
          const redirect = [301, 302, 303, 307, 308].includes(status) && response.headers.has("location");
          const callbackPage =
            c.op.path === "/oauth/callback" && (response.headers.get("content-type") ?? "").startsWith("text/html");
          if (status >= 300 && !redirect && !callbackPage) {
            const envelope = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
            const code = envelope.error?.code;
            expect(isErrorCode(code) && statusOf(code), `${where}: not the error envelope`).toBe(status);
            expect(typeof envelope.error?.message, where).toBe("string");
            codes.add(String(code));
          }

          const fingerprintStarted = performance.now();
          const after = await fingerprint();
          fingerprintMs += performance.now() - fingerprintStarted;
          const unchanged = before;
          before = after;
          if (status >= 400) expect(after, `${where}: a refused request changed the database`).toBe(unchanged);
        },
      ),
      { seed, numRuns: runs },
    );

    const elapsed = performance.now() - started;
    console.log(
      `[fuzz] ${runs} cases in ${(elapsed / 1000).toFixed(1)} s (database fingerprints ${(fingerprintMs / 1000).toFixed(1)} s); ` +
        `by status ${JSON.stringify(Object.fromEntries([...byStatus].sort(([a], [b]) => a - b)))}; ` +
        `${seen.size}/${ops.length} operations; codes ${[...codes].sort().join(" ")}`,
    );
    // The fuzz reached both sides: accepted requests and refusals of many kinds.
    const count = (low: number, high: number) =>
      [...byStatus].filter(([status]) => status >= low && status < high).reduce((sum, [, n]) => sum + n, 0);
    expect(count(200, 300)).toBeGreaterThan(0);
    expect(count(400, 500)).toBeGreaterThan(0);
    if (runs >= 20 * ops.length) {
      expect(seen.size).toBe(ops.length);
      expect(count(200, 300)).toBeGreaterThan(runs / 20);
      expect(codes.size).toBeGreaterThanOrEqual(6);
    }
  }, 900_000);

  it("wrote no planted secret or served token to the log, over the whole run", () => {
    expect(bed.t.logs.lines.length).toBeGreaterThan(0);
    expect(secrets.foundIn(bed.t.logs.text)).toEqual([]);
    expect(servedTokens.foundIn(bed.t.logs.text)).toEqual([]);
  });
});
