import { z } from "zod";
import { ErrorCode, errorCodes } from "@latchkey/contracts";
import type { RouteAuth, RouteDoc } from "../http/api-docs.ts";

type JsonObject = Record<string, unknown>;

export interface OpenApiDocument {
  openapi: "3.1.0";
  info: { title: string; version: string; description: string };
  servers: Array<{ url: string }>;
  tags: Array<{ name: string }>;
  paths: Record<string, Record<string, JsonObject>>;
  components: { schemas: Record<string, JsonObject>; securitySchemes: Record<string, JsonObject> };
}

/** The error envelope every non-2xx JSON response carries. */
export const ErrorEnvelope = z
  .object({
    error: z.object({
      code: z
        .enum(errorCodes)
        .describe(
          `Stable code to branch on. Code → HTTP status: ${errorCodes.map((code) => `${code} ${ErrorCode[code]}`).join(", ")}`,
        ),
      message: z.string().describe("Human-readable; may change between versions"),
      details: z.unknown().optional(),
      request_id: z.string().optional().describe("Also in the X-Request-Id response header; quote it in bug reports"),
    }),
  })
  .describe("Every error response");

const errorSchemaName = "Error";
const componentPrefix = "#/components/schemas/";
const sharedPrefix = `${componentPrefix}__shared#/$defs/`;

const securitySchemes: Record<string, JsonObject> = {
  operatorKey: { type: "http", scheme: "bearer", description: "LATCHKEY_OPERATOR_KEY" },
  adminApiKey: { type: "http", scheme: "bearer", description: "A workspace member's admin API key (lk_admin_…)" },
  serviceKey: { type: "http", scheme: "bearer", description: "An app's service key (lk_svc_…)" },
  userToken: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: "An app user's token" },
  onBehalfOf: {
    type: "apiKey",
    in: "header",
    name: "on-behalf-of",
    description: "`Bearer <user token>` of the app user the service acts for",
  },
};

const securityByAuth: Record<RouteAuth, Array<Record<string, string[]>>> = {
  none: [],
  operator: [{ operatorKey: [] }],
  workspace: [{ adminApiKey: [] }],
  service: [{ serviceKey: [] }],
  user: [{ userToken: [] }],
  "service+user": [{ serviceKey: [], onBehalfOf: [] }],
};

/**
 * OpenAPI 3.1 from the route docs, converted from the same zod schemas the routes validate with
 * (request bodies and query as their input type, responses as their output type).
 */
export function buildOpenApiDocument(
  routes: readonly RouteDoc[],
  info: { version: string; serverUrl: string },
): OpenApiDocument {
  const operations = routes.map((route) => ({ route, path: openApiPath(route.path) }));
  const operationIds = uniqueOperationIds(operations.map(({ route, path }) => operationIdOf(route.method, path)));
  const components = new ComponentSchemas();
  components.set(
    components.reserve(errorSchemaName),
    cleanRoot(z.toJSONSchema(ErrorEnvelope, { override: allowNewResponseFields }) as JsonObject),
  );

  const inputs = new SchemaSet("input");
  const outputs = new SchemaSet("output");
  operations.forEach(({ route }, index) => {
    const id = upperFirst(operationIds[index] ?? "");
    if (route.body) inputs.name(route.body, `${id}Request`);
    for (const [status, response] of Object.entries(route.responses)) {
      if (response.schema) outputs.name(response.schema, `${id}${status}Response`);
    }
  });
  inputs.emitInto(components);
  outputs.emitInto(components);

  const paths: OpenApiDocument["paths"] = {};
  operations.forEach(({ route, path }, index) => {
    const operation: JsonObject = {
      operationId: operationIds[index],
      summary: route.summary,
      tags: [route.tag],
      security: securityByAuth[route.auth],
    };
    const parameters = [...pathParameters(path), ...queryParameters(route.query)];
    if (parameters.length > 0) operation.parameters = parameters;
    if (route.body) operation.requestBody = requestBody(route.body, inputs.refOf(route.body));
    operation.responses = responses(route, outputs);
    paths[path] = { ...paths[path], [route.method]: operation };
  });

  return {
    openapi: "3.1.0",
    info: {
      title: "Latchkey",
      version: info.version,
      description:
        "Per-user OAuth connections. Every error is `{error: {code, message, details?, request_id?}}`; branch on `code`.",
    },
    servers: [{ url: info.serverUrl }],
    tags: [...new Set(routes.map((route) => route.tag))].map((name) => ({ name })),
    paths,
    components: { schemas: components.schemas, securitySchemes },
  };
}

/** The zod schemas of one direction (input or output), named and converted together. */
class SchemaSet {
  readonly #registry = z.registry<{ id: string }>();
  readonly #refs = new Map<z.ZodType, string>();

  constructor(readonly io: "input" | "output") {}

  /** Names a schema; a schema used by several routes keeps its first name. */
  name(schema: z.ZodType, id: string): void {
    if (this.#registry.has(schema)) return;
    this.#registry.add(schema, { id });
  }

  refOf(schema: z.ZodType): string {
    const id = this.#refs.get(schema) ?? this.#registry.get(schema)?.id;
    return `${componentPrefix}${id ?? ""}`;
  }

  emitInto(components: ComponentSchemas): void {
    const { schemas } = z.toJSONSchema(this.#registry, {
      io: this.io,
      unrepresentable: "any",
      uri: (id) => `${componentPrefix}${id}`,
      override: allowNewResponseFields,
    }) as { schemas: Record<string, JsonObject> };
    // Subschemas zod could not inline (a global `.meta({id})`, a z.lazy cycle) land in
    // `__shared.$defs`; they become components of their own and their refs are rewritten.
    const { __shared: shared, ...roots } = schemas;
    const sharedDefs = Object.entries((shared?.$defs ?? {}) as Record<string, JsonObject>);
    const suffix = this.io === "input" ? "Input" : "Output";
    const renamed = new Map<string, string>();
    for (const [defName] of sharedDefs) {
      const base = /^schema\d+$/.test(defName) ? `${suffix}${upperFirst(defName)}` : defName;
      renamed.set(defName, components.reserve(base, suffix));
    }
    const rootNames = new Map<string, string>();
    for (const [id] of Object.entries(roots)) rootNames.set(id, components.reserve(id, suffix));
    const rewrite = (json: JsonObject) => rewriteRefs(json, renamed, rootNames);
    for (const [defName, def] of sharedDefs) components.set(renamed.get(defName) ?? defName, rewrite(def));
    for (const [id, schema] of Object.entries(roots)) {
      const finalName = rootNames.get(id) ?? id;
      components.set(finalName, rewrite(cleanRoot(schema)));
      const zodSchema = this.#registry._idmap.get(id);
      if (zodSchema) this.#refs.set(zodSchema as z.ZodType, finalName);
    }
  }
}

/**
 * zod describes the output of a plain z.object as closed (`additionalProperties: false`). Responses
 * gain fields in backward-compatible releases, so only a z.strictObject stays closed.
 */
function allowNewResponseFields(context: { zodSchema: z.core.$ZodTypes; jsonSchema: JsonObject }): void {
  const def = context.zodSchema._zod.def;
  if (def.type === "object" && def.catchall === undefined && context.jsonSchema.additionalProperties === false) {
    delete context.jsonSchema.additionalProperties;
  }
}

/** `components.schemas`, where a name taken by another schema gets a suffix. */
class ComponentSchemas {
  readonly schemas: Record<string, JsonObject> = {};

  /** Claims `name` (or a free variant of it) and returns the name claimed. */
  reserve(name: string, suffix = ""): string {
    const safe = name.replace(/[^A-Za-z0-9._-]/g, "_") || "Schema";
    let candidate = safe;
    for (let n = 1; Object.hasOwn(this.schemas, candidate); n++) {
      candidate = `${safe}${suffix}${n === 1 && suffix ? "" : n}`;
    }
    this.schemas[candidate] = {};
    return candidate;
  }

  set(name: string, schema: JsonObject): void {
    this.schemas[name] = schema;
  }
}

function rewriteRefs(
  value: JsonObject,
  renamedShared: ReadonlyMap<string, string>,
  renamedRoots: ReadonlyMap<string, string>,
): JsonObject {
  return mapRefs(value, (ref) => {
    if (ref.startsWith(sharedPrefix)) {
      const defName = decodePointer(ref.slice(sharedPrefix.length));
      return `${componentPrefix}${renamedShared.get(defName) ?? defName}`;
    }
    if (ref.startsWith(componentPrefix)) {
      const id = ref.slice(componentPrefix.length);
      return `${componentPrefix}${renamedRoots.get(id) ?? id}`;
    }
    return ref;
  }) as JsonObject;
}

function mapRefs(value: unknown, map: (ref: string) => string): unknown {
  if (Array.isArray(value)) return value.map((item) => mapRefs(item, map));
  if (value === null || typeof value !== "object") return value;
  const out: JsonObject = {};
  for (const [key, child] of Object.entries(value)) {
    out[key] = key === "$ref" && typeof child === "string" ? map(child) : mapRefs(child, map);
  }
  return out;
}

function decodePointer(segment: string): string {
  return segment.replace(/~1/g, "/").replace(/~0/g, "~");
}

/** A converted root schema without its `$schema`/`$id` (inside OpenAPI they would re-base refs). */
function cleanRoot(schema: JsonObject): JsonObject {
  const { $schema: _schema, $id: _id, ...rest } = schema;
  return rest;
}

function requestBody(schema: z.ZodType, ref: string): JsonObject {
  return {
    // The Base44 SDK sends no body where every field is optional, so such bodies are optional.
    required: !acceptsEmptyBody(schema),
    content: { "application/json": { schema: { $ref: ref } } },
  };
}

function acceptsEmptyBody(schema: z.ZodType): boolean {
  try {
    return schema.safeParse({}).success;
  } catch {
    return false;
  }
}

function responses(route: RouteDoc, outputs: SchemaSet): JsonObject {
  const result: JsonObject = {};
  for (const [status, response] of Object.entries(route.responses)) {
    const entry: JsonObject = { description: response.description };
    if (response.schema) entry.content = jsonContent(outputs.refOf(response.schema));
    else if (Number(status) >= 400) entry.content = jsonContent(`${componentPrefix}${errorSchemaName}`);
    result[status] = entry;
  }
  result.default ??= {
    description: "Error: see `error.code`",
    content: jsonContent(`${componentPrefix}${errorSchemaName}`),
  };
  return result;
}

function jsonContent(ref: string): JsonObject {
  return { "application/json": { schema: { $ref: ref } } };
}

function pathParameters(path: string): JsonObject[] {
  return [...path.matchAll(/\{([^}]+)\}/g)].map((match) => ({
    name: match[1],
    in: "path",
    required: true,
    schema: { type: "string" },
  }));
}

function queryParameters(query: z.ZodType | undefined): JsonObject[] {
  if (!query) return [];
  const schema = z.toJSONSchema(query, { io: "input", unrepresentable: "any" }) as JsonObject;
  const properties = (schema.properties ?? {}) as Record<string, JsonObject>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...propertySchema } = property;
    return {
      name,
      in: "query",
      required: required.has(name),
      ...(typeof description === "string" && { description }),
      schema: propertySchema,
    };
  });
}

/** `/api/apps/:appId` → `/api/apps/{appId}` (docs should already use the OpenAPI form). */
function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

function operationIdOf(method: string, path: string): string {
  const words = path
    .split("/")
    .filter(Boolean)
    .map((segment) => {
      const param = /^\{(.+)\}$/.exec(segment);
      return param ? `by ${param[1]}` : segment;
    });
  return camelCase([method, ...words].join(" "));
}

function uniqueOperationIds(ids: string[]): string[] {
  const seen = new Map<string, number>();
  return ids.map((id) => {
    const count = (seen.get(id) ?? 0) + 1;
    seen.set(id, count);
    return count === 1 ? id : `${id}${count}`;
  });
}

function camelCase(text: string): string {
  const words = text.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return words.map((word, index) => (index === 0 ? word.toLowerCase() : upperFirst(word))).join("");
}

function upperFirst(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}
