/**
 * Last line of defence for the deadline. At the hard stop it (1) aborts every AWS call still in flight (the
 * signal every SDK client of the invocation carries), (2) cancels the backend's current statement (its
 * transaction rolls back, the run is recorded as failed), and (3) if the connection still does not let go,
 * destroys the socket (the session ends, so its locks are released).
 */
import pg from 'pg';

export interface Watchdog {
  /** Whether it fired (the run then failed because of the deadline). */
  readonly fired: boolean;
  /** Aborted at the hard stop: pass to every AWS call. */
  readonly signal: AbortSignal;
  /** The database session to cancel and, failing that, cut at the hard stop. */
  attach(client: pg.Client, config: pg.ClientConfig): void;
  stop(): void;
}

/** The reason a hard-stop abort carries (what an aborted AWS call reports). */
export class InvocationDeadline extends Error {
  override name = 'InvocationDeadline';
}

export function startWatchdog(hardStopAt: number, onFire: (what: string) => void): Watchdog {
  let fired = false;
  let destroyTimer: NodeJS.Timeout | undefined;
  let session: { client: pg.Client; config: pg.ClientConfig } | undefined;
  const abort = new AbortController();
  const timer = setTimeout(async () => {
    fired = true;
    onFire('the invocation deadline is near: aborting AWS calls in flight and cancelling the running statement');
    abort.abort(new InvocationDeadline('stopped at the invocation deadline'));
    if (!session) return;
    const { client, config } = session;
    const pid = (client as unknown as { processID?: number }).processID;
    try {
      const other = new pg.Client({ ...config, connectionTimeoutMillis: 2_000, application_name: 'migrator:watchdog' });
      other.on('error', () => {});
      await other.connect();
      await other.query('SELECT pg_cancel_backend($1)', [pid]).finally(() => other.end());
    } catch {
      // Cancelling is best effort; destroying the socket below still frees the session.
    }
    destroyTimer = setTimeout(() => {
      onFire('closing the database connection: the cancelled statement did not end');
      (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    }, 3_000);
    destroyTimer.unref();
  }, Math.max(0, hardStopAt - Date.now()));
  timer.unref();
  return {
    get fired() {
      return fired;
    },
    signal: abort.signal,
    attach(client, config) {
      session = { client, config };
    },
    stop() {
      clearTimeout(timer);
      if (destroyTimer) clearTimeout(destroyTimer);
    },
  };
}
