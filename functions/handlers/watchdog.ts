/**
 * Last line of defence for the deadline: if the work is still running when the hard stop comes, cancel the
 * backend's current statement (its transaction rolls back, the run is recorded as failed), and if the
 * connection still does not let go, destroy the socket (the session ends, so its advisory lock is released).
 */
import pg from 'pg';

export interface Watchdog {
  /** Whether it fired (the run then failed because of the deadline). */
  readonly fired: boolean;
  stop(): void;
}

export function startWatchdog(client: pg.Client, config: pg.ClientConfig, hardStopAt: number, onFire: (what: string) => void): Watchdog {
  let fired = false;
  let destroyTimer: NodeJS.Timeout | undefined;
  const pid = (client as unknown as { processID?: number }).processID;
  const timer = setTimeout(async () => {
    fired = true;
    onFire('cancelling the running statement: the invocation deadline is near');
    try {
      const other = new pg.Client({ ...config, connectionTimeoutMillis: 2_000 });
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
    stop() {
      clearTimeout(timer);
      if (destroyTimer) clearTimeout(destroyTimer);
    },
  };
}
