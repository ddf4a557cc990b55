import type { Database } from "../db/schema.ts";

type ColumnOf<Table extends keyof Database> = keyof Database[Table] & string;

/** A text column whose values are vault ciphertexts bound to `{table, column, rowId: primaryKey}`. */
export type EncryptedColumn = {
  [Table in keyof Database]: { table: Table; column: ColumnOf<Table>; primaryKey: ColumnOf<Table> };
}[keyof Database];

/**
 * Every encrypted column, in one place. Key rotation and `latchkey doctor` walk this list, so a
 * column missing here would keep values under an old key forever: add each new one here.
 */
export const encryptedColumns: readonly EncryptedColumn[] = [
  { table: "apps", column: "identity_secret", primaryKey: "id" },
  { table: "connectors", column: "client_secret", primaryKey: "id" },
  { table: "oauth_states", column: "code_verifier", primaryKey: "state_hash" },
  { table: "connections", column: "access_token", primaryKey: "id" },
  { table: "connections", column: "refresh_token", primaryKey: "id" },
  { table: "webhooks", column: "secret", primaryKey: "id" },
  { table: "webhooks", column: "previous_secret", primaryKey: "id" },
];

export function columnName(column: EncryptedColumn): string {
  return `${column.table}.${column.column}`;
}
