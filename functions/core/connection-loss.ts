/**
 * Telling a lost database connection from other failures, and saying in words what was lost. pg reports a
 * lost session in several shapes (the server's FATAL before it closes, a socket error, "Connection terminated
 * unexpectedly", and for every later query "Client has encountered a connection error and is not queryable");
 * none of them says what it means for the run. The messages built from these name the session, the step and
 * what was written (see ConnectionLostError in errors.ts).
 */

type Coded = Error & { code?: string; cause?: unknown };

/** SQLSTATEs of a FATAL the server sends as it ends the session, and what each means. */
const SERVER_ENDED: Record<string, string> = {
  '57P01': 'the server ended the session (SQLSTATE 57P01: a restart, a failover or pg_terminate_backend)',
  '57P02': 'the server crashed or restarted (SQLSTATE 57P02)',
  '57P05': 'the server ended the idle session (SQLSTATE 57P05, idle_session_timeout)',
  '25P03': 'the server ended the session because it sat idle inside a transaction for longer than idle_in_transaction_session_timeout (SQLSTATE 25P03; was this process paused or cut off?)',
  '08000': 'connection exception (SQLSTATE 08000)',
  '08003': 'the connection does not exist (SQLSTATE 08003)',
  '08006': 'connection failure (SQLSTATE 08006)',
};

/** Socket errors that end a session. */
const SOCKET: Record<string, string> = {
  ECONNRESET: 'the connection was reset (ECONNRESET)',
  EPIPE: 'the connection was closed while writing (EPIPE)',
  ETIMEDOUT: 'the connection timed out (ETIMEDOUT: no TCP keepalive answer)',
  EHOSTUNREACH: 'the host became unreachable (EHOSTUNREACH)',
  ENETUNREACH: 'the network became unreachable (ENETUNREACH)',
};

const PG_LOST = /Connection terminated|not queryable|connection error|Client was closed|terminating connection/i;

/** The innermost error of a `cause` chain that says the connection was lost, if any. */
function lossIn(error: unknown, depth = 0): Coded | undefined {
  if (!(error instanceof Error) || depth > 5) return undefined;
  // A query that went unanswered was dropped on purpose: that error says so itself (QueryTimeoutError in db.ts).
  if (error.name === 'QueryTimeoutError') return undefined;
  const e = error as Coded;
  const inner = lossIn(e.cause, depth + 1);
  if (inner) return inner;
  if ((e.code && (SERVER_ENDED[e.code] || SOCKET[e.code])) || PG_LOST.test(e.message)) return e;
  return undefined;
}

/** Whether `error` (or its cause) says the database session is gone. */
export function isConnectionLoss(error: unknown): boolean {
  return lossIn(error) !== undefined;
}

/** What ended the session, in words, e.g. "the server ended the session (SQLSTATE 57P01: a restart, ...)". */
export function describeLoss(error: unknown): string {
  const e = lossIn(error);
  if (!e) return error instanceof Error ? error.message.split('\n')[0]!.slice(0, 200) : String(error);
  if (e.code && SERVER_ENDED[e.code]) return SERVER_ENDED[e.code]!;
  if (e.code && SOCKET[e.code]) return SOCKET[e.code]!;
  // pg's own words, kept short; "not queryable" only says an earlier error broke the connection.
  return /not queryable/i.test(e.message) ? 'the connection had already failed' : e.message.split('\n')[0]!.slice(0, 160);
}
