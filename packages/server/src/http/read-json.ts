import type { Context } from "hono";
import type { z } from "zod";
import { findUnstorableText } from "../db/storable-text.ts";
import { AppError } from "../errors/app-error.ts";
import { ClientClosedRequest, isClientDisconnect } from "../errors/client-closed.ts";

const maxJsonDepth = 32;

/**
 * Reads and validates a JSON body. An empty body counts as `{}` (the Base44 SDK sends
 * `Content-Type: application/json` with no body on initiate and DELETE).
 */
export async function readJson<Schema extends z.ZodType>(c: Context, schema: Schema): Promise<z.output<Schema>> {
  const text = await readBodyText(c);
  const contentType = c.req.header("content-type") ?? "";
  if (text.trim() !== "" && contentType !== "" && !/^application\/(.+\+)?json\b/i.test(contentType)) {
    throw new AppError("UNSUPPORTED_MEDIA_TYPE", "Send the body as application/json");
  }
  let value: unknown = {};
  if (text.trim() !== "") {
    try {
      value = JSON.parse(text);
    } catch {
      throw new AppError("INVALID_REQUEST", "The request body is not valid JSON");
    }
  }
  if (depthOf(value) > maxJsonDepth) {
    throw new AppError("INVALID_REQUEST", `The request body is nested deeper than ${maxJsonDepth} levels`);
  }
  const unstorable = findUnstorableText(value);
  if (unstorable !== null) {
    const message = "must not contain NUL characters or unpaired UTF-16 surrogates";
    throw new AppError("INVALID_REQUEST", `Invalid body: ${unstorable ? `${unstorable}: ` : ""}${message}`, {
      issues: [{ path: unstorable, message }],
    });
  }
  return parseOrThrow(schema, value, "body");
}

/** The body as text; a client that hangs up mid-body is a client abort, not a server error. */
async function readBodyText(c: Context): Promise<string> {
  try {
    return await c.req.text();
  } catch (error) {
    if (c.req.raw.signal.aborted || isClientDisconnect(error)) {
      throw new ClientClosedRequest("The client closed the connection before sending the whole body", { cause: error });
    }
    throw error;
  }
}

export function parseOrThrow<Schema extends z.ZodType>(
  schema: Schema,
  value: unknown,
  where: string,
): z.output<Schema> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => ({
      path: issue.path.map(String).join("."),
      message: issue.message,
    }));
    const first = issues[0];
    const summary = first ? `${first.path ? `${first.path}: ` : ""}${first.message}` : "invalid";
    throw new AppError("INVALID_REQUEST", `Invalid ${where}: ${summary}`, { issues });
  }
  return result.data;
}

function depthOf(value: unknown, depth = 0): number {
  if (depth > maxJsonDepth) return depth;
  if (value === null || typeof value !== "object") return depth;
  let deepest = depth + 1;
  for (const child of Object.values(value)) deepest = Math.max(deepest, depthOf(child, depth + 1));
  return deepest;
}
