/**
 * `migrator unlock`: end the session that holds a target's migration lock when the run behind it is gone
 * (a killed CLI whose connection lingers, a frozen host, a Lambda sandbox that timed out), and record that
 * in the run history (the CLI records it as a run through the run history's writer). A holder whose run is
 * still running a statement is refused unless forced.
 */
import { MigratorError } from '../errors.ts';
import { describeHolder, migrationLockHolders, type LockHolder } from './lock-holder.ts';
import { withClient } from './session.ts';
import { tablesOf } from './state.ts';
import type { MigrationTarget } from './types.ts';

export interface UnlockOptions {
  /** Only list the holders; end nothing, record nothing. */
  dryRun?: boolean;
  /** Also end a holder whose state is `active` (running a statement right now). */
  force?: boolean;
  /** Called after the checks, right before a session is ended (the CLI opens the run row there). */
  onValidated?: () => Promise<void>;
}

export interface UnlockResult {
  holders: LockHolder[];
  /** pids ended (pg_terminate_backend). */
  ended: number[];
}

export async function unlock(target: MigrationTarget, options: UnlockOptions = {}): Promise<UnlockResult> {
  const t = tablesOf(target);
  return withClient(target, async (client) => {
    const holders = await migrationLockHolders(client, t);
    if (options.dryRun || holders.length === 0) return { holders, ended: [] };
    // The lock is held by a run's lock session (`<application_name>:lock`, idle in transaction by design);
    // the run itself is its main session (`<application_name>`). Both end, so a frozen run cannot go on unlocked.
    const { rows: sessions } = await client.query<{ pid: number; application_name: string; state: string | null; query: string | null }>(
      'SELECT pid, application_name, state, query FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datname = current_database() AND application_name = ANY($1)',
      [holders.filter((h) => h.applicationName.endsWith(':lock')).map((h) => h.applicationName.slice(0, -':lock'.length))],
    );
    const runSessions = sessions.map((r) => ({ ...r, pid: r.pid }));
    const active = [
      ...holders.filter((h) => h.state === 'active'),
      ...holders.filter((h) => runSessions.some((r) => r.state === 'active' && `${r.application_name}:lock` === h.applicationName)),
    ];
    if (active.length && !options.force) {
      throw new MigratorError(
        `The migration lock of ${t.schema}.${t.table} is held by a run that is running a statement now (${active.map(describeHolder).join('; ')}). ` +
          'Nothing was ended. If that run is really lost or must stop, pass --force (its transaction rolls back).',
      );
    }
    await options.onValidated?.(); // the run row opens here: a refused unlock ends nothing and records nothing
    const ended: number[] = [];
    for (const h of [...holders, ...runSessions.filter((r) => !holders.some((h) => h.pid === r.pid))]) {
      // Waits (up to 5 s) until the backend is gone, so the lock is free when this returns.
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_terminate_backend($1, 5000) AS ok', [h.pid]);
      if (rows[0]?.ok) ended.push(h.pid);
    }
    return { holders, ended };
  });
}
