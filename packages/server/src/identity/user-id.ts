import { z } from "zod";
import { isStorableText } from "../db/storable-text.ts";

export const maxUserIdLength = 255;

/**
 * An app user's id as Latchkey stores it (a token's `sub`, a path segment): 1..255 characters of
 * valid Unicode, none of them control characters.
 */
export const UserIdSchema = z
  .string()
  .min(1, "must not be empty")
  .max(maxUserIdLength, `must be at most ${maxUserIdLength} characters`)
  .regex(/^[^\u0000-\u001f\u007f-\u009f]*$/, "must not contain control characters")
  // The database would store an unpaired surrogate as U+FFFD, making "\ud800" and "\ufffd" one user.
  .refine(isStorableText, "must be valid Unicode (no unpaired surrogates)");

export function isValidUserId(value: unknown): value is string {
  return UserIdSchema.safeParse(value).success;
}

/** Printable ASCII, the shape of nearly every user id: valid without running the schema. */
const plainUserId = new RegExp(`^[\\x20-\\x7e]{1,${maxUserIdLength}}$`);

/** A cheap sufficient check for the hot path: true means valid; false means ask UserIdSchema. */
export function isPlainUserId(value: string): boolean {
  return plainUserId.test(value);
}
