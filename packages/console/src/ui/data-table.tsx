import type { ReactNode } from "react";

/**
 * A listing table: a caption for screen readers, one header cell per column, and with `actions` a
 * last column for row buttons whose header only screen readers hear. `children` are the rows.
 */
export function DataTable({
  caption,
  columns,
  actions = false,
  children,
}: {
  caption: string;
  columns: readonly string[];
  actions?: boolean;
  children: ReactNode;
}) {
  return (
    <table>
      <caption className="sr-only">{caption}</caption>
      <thead>
        <tr>
          {columns.map((column) => (
            <th scope="col" key={column}>
              {column}
            </th>
          ))}
          {actions && (
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          )}
        </tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  );
}
