import { catalog, findProvider, toProviderInfo, type ProviderInfo } from "@latchkey/catalog";
import { z } from "zod";
import { notFound } from "../errors/app-error.ts";
import { defineRoute } from "../http/define-route.ts";
import type { RouteContext } from "../http/route-context.ts";

const ProviderInfoSchema: z.ZodType<ProviderInfo> = z.object({
  id: z.string().describe("The provider id: a connector's `provider`"),
  name: z.string(),
  categories: z.array(z.string()),
  docs_url: z.string().nullable().describe("The provider's own OAuth documentation"),
  scope_presets: z.record(z.string(), z.array(z.string())).describe("Named scope sets a connector may pick"),
  connection_values: z
    .array(
      z.object({
        name: z.string(),
        label: z.string(),
        pattern: z.string().describe("Anchored regular expression the value must match"),
        example: z.string(),
        supplied_by: z.enum(["connector", "user"]),
      }),
    )
    .describe("Values a connector (connection_values) or an app user (initiate body) supplies"),
  integration_types: z.array(z.string()).describe("Base44 integration-type names this provider answers to"),
});

/** Provider ids as the catalog writes them; anything else is simply not found. */
const providerIdPattern = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** The catalog is fixed at build time: its wire shape is computed once. */
const providerInfos: ProviderInfo[] = [...catalog.values()].map(toProviderInfo);

/** `GET /api/providers` and `GET /api/providers/{id}`: the catalog, public (no secrets in it). */
export function registerProviderCatalogRoutes(ctx: RouteContext<unknown>): void {
  const tag = "Providers";
  defineRoute(ctx, {
    method: "get",
    path: "/api/providers",
    summary:
      "The provider catalog: every provider a connector may name, with its scope presets, the values a connector or an app user supplies, and its Base44 integration types",
    tag,
    auth: "none",
    responses: { 200: { description: "OK", schema: z.object({ providers: z.array(ProviderInfoSchema) }) } },
    handler: (c) => c.json({ providers: providerInfos }, 200, { "Cache-Control": "public, max-age=300" }),
  });
  defineRoute(ctx, {
    method: "get",
    path: "/api/providers/{providerId}",
    summary: "One provider of the catalog",
    tag,
    auth: "none",
    responses: { 200: { description: "OK", schema: z.object({ provider: ProviderInfoSchema }) } },
    errors: ["NOT_FOUND"],
    handler: (c) => {
      const id = c.req.param("providerId") ?? "";
      const description = providerIdPattern.test(id) ? findProvider(id) : undefined;
      if (!description) throw notFound("Provider");
      return c.json({ provider: toProviderInfo(description) }, 200, { "Cache-Control": "public, max-age=300" });
    },
  });
}
