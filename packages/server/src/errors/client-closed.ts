/**
 * The client went away before its request was read (it closed the connection mid-body). Nobody is
 * left to answer and nothing went wrong here: counted as 499 (nginx's "client closed request") and
 * logged at debug, never as an internal error.
 */
export class ClientClosedRequest extends Error {
  override name = "ClientClosedRequest";
}

/** The status requests are counted with when the client closed the connection first. */
export const clientClosedStatus = 499;

/** True for the errors Node gives a body read when the client disconnected (`aborted`, ECONNRESET). */
export function isClientDisconnect(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  return (
    code === "ECONNRESET" ||
    code === "ERR_STREAM_PREMATURE_CLOSE" ||
    error.message === "aborted" ||
    error.name === "AbortError"
  );
}
