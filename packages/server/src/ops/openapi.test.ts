import { describe, expect, it } from "vitest";
import { z } from "zod";
import type { RouteDoc } from "../http/api-docs.ts";
import { buildOpenApiDocument } from "./openapi.ts";

const info = { version: "1.2.3", serverUrl: "https://latchkey.example" };

function refsIn(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(refsIn);
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([key, child]) =>
    key === "$ref" && typeof child === "string" ? [child] : refsIn(child),
  );
}

function expectEveryRefResolves(document: ReturnType<typeof buildOpenApiDocument>): void {
  for (const ref of refsIn(document)) {
    expect(ref, ref).toMatch(/^#\/components\/schemas\/[A-Za-z0-9._-]+$/);
    expect(document.components.schemas[ref.replace("#/components/schemas/", "")], ref).toBeDefined();
  }
}

describe("buildOpenApiDocument", () => {
  it("hoists schemas with a global id and recursive schemas into components, with resolvable refs", () => {
    const Address = z.object({ city: z.string() }).meta({ id: "OpenApiTestAddress" });
    interface Folder {
      name: string;
      children: Folder[];
    }
    const FolderSchema: z.ZodType<Folder> = z.lazy(() =>
      z.object({ name: z.string(), children: z.array(FolderSchema) }),
    );
    const routes: RouteDoc[] = [
      {
        method: "post",
        path: "/api/folders",
        summary: "Create",
        tag: "test",
        auth: "workspace",
        body: z.object({ root: FolderSchema, address: Address }),
        responses: { 201: { description: "Created", schema: z.object({ address: Address, folder: FolderSchema }) } },
      },
    ];

    const document = buildOpenApiDocument(routes, info);

    expectEveryRefResolves(document);
    expect(document.components.schemas.OpenApiTestAddress).toMatchObject({ properties: { city: { type: "string" } } });
    expect(JSON.stringify(document)).not.toContain("__shared");
    expect(JSON.stringify(document)).not.toContain('"$schema"');
  });

  it("reuses one component for a schema several routes share", () => {
    const Thing = z.object({ id: z.string() });
    const route = (path: string): RouteDoc => ({
      method: "get",
      path,
      summary: path,
      tag: "test",
      auth: "service",
      responses: { 200: { description: "ok", schema: Thing } },
    });

    const document = buildOpenApiDocument([route("/a"), route("/b")], info);

    const refA = refsIn(document.paths["/a"]);
    const refB = refsIn(document.paths["/b"]);
    expect(refA[0]).toBe(refB[0]);
    expectEveryRefResolves(document);
  });

  it("marks a body optional when an empty object is valid (the Base44 SDK sends no body)", () => {
    const document = buildOpenApiDocument(
      [
        {
          method: "post",
          path: "/api/apps/{appId}/initiate",
          summary: "Initiate",
          tag: "connect",
          auth: "user",
          body: z.object({ return_to: z.url().optional() }),
          responses: { 200: { description: "ok" } },
        },
      ],
      info,
    );
    const operation = document.paths["/api/apps/{appId}/initiate"]?.post as { requestBody: { required: boolean } };
    expect(operation.requestBody.required).toBe(false);
  });

  it("accepts Hono-style :params and documents them as path parameters", () => {
    const document = buildOpenApiDocument(
      [
        {
          method: "delete",
          path: "/api/x/:xId",
          summary: "Delete",
          tag: "t",
          auth: "none",
          responses: { 204: { description: "gone" } },
        },
      ],
      info,
    );
    const operation = document.paths["/api/x/{xId}"]?.delete as {
      parameters: unknown[];
      responses: Record<string, unknown>;
    };
    expect(operation.parameters).toEqual([{ name: "xId", in: "path", required: true, schema: { type: "string" } }]);
    expect(operation.responses["204"]).toEqual({ description: "gone" });
  });

  it("leaves response objects open to new fields unless the schema is strict", () => {
    const document = buildOpenApiDocument(
      [
        {
          method: "get",
          path: "/open",
          summary: "open",
          tag: "t",
          auth: "none",
          responses: { 200: { description: "ok", schema: z.object({ nested: z.object({ a: z.string() }) }) } },
        },
        {
          method: "get",
          path: "/closed",
          summary: "closed",
          tag: "t",
          auth: "none",
          responses: { 200: { description: "ok", schema: z.strictObject({ a: z.string() }) } },
        },
      ],
      info,
    );
    const schemaOf = (path: string) => {
      const ref = refsIn(document.paths[path])[0] ?? "";
      return document.components.schemas[ref.replace("#/components/schemas/", "")];
    };
    expect(JSON.stringify(schemaOf("/open"))).not.toContain("additionalProperties");
    expect(schemaOf("/closed")).toMatchObject({ additionalProperties: false });
    expect(JSON.stringify(document.components.schemas.Error)).not.toContain("additionalProperties");
  });

  it("names the server and version it was given", () => {
    const document = buildOpenApiDocument([], info);
    expect(document.info.version).toBe("1.2.3");
    expect(document.servers).toEqual([{ url: "https://latchkey.example" }]);
  });
});
