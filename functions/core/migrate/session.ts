/**
 * One dedicated connection per operation, the run-serializing advisory lock and the migration deadlines.
 */
import pg from 'pg';
import { connect } from '../db.ts';
import { LockWaitTimeoutError, MigratorError } from '../errors.ts';
import { advisoryLockHolders, describeHolder } from './lock-holder.ts';
import type { Tables } from './state.ts';
import { DEFAULT_SAFETY, type MigrationTarget, type SafetyOptions } from './types.ts';

/** Run `fn` with the target's client, or a new connection closed afterwards. */
export async function withClient<T>(target: MigrationTarget, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  if (target.client) return fn(target.client);
  if (!target.databaseUrl) {
    throw new MigratorError('No database given: pass --database-url or set DATABASE_URL.');
  }
  const client = await connect(target.databaseUrl, target.connect);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Hold the target's session advisory lock while `fn` runs. A second runner waits up to
 * `lockWaitTimeoutMs` (PostgreSQL's lock_timeout also bounds advisory lock waits), then fails with
 * LockWaitTimeoutError. The lock belongs to the session, so a process that dies releases it with its connection.
 * While `fn` runs, the session has the migration `lock_timeout` and `statement_timeout`; both are reset after.
 */
export async function withLock<T>(
  client: pg.ClientBase,
  t: Tables,
  safety: SafetyOptions,
  fn: () => Promise<T>,
): Promise<T> {
  const wait = ms(safety.lockWaitTimeoutMs ?? DEFAULT_SAFETY.lockWaitTimeoutMs);
  const qualified = `${t.schema}.${t.table}`;
  await client.query('SET statement_timeout = 0');
  if (wait === 0) {
    const { rows } = await client.query('SELECT pg_try_advisory_lock($1::bigint) AS ok', [t.lockKey]);
    if (!rows[0].ok) throw new LockWaitTimeoutError(qualified, 0, await holderOf(client, t.lockKey));
  } else {
    await client.query(`SET lock_timeout = ${wait}`);
    try {
      await client.query('SELECT pg_advisory_lock($1::bigint)', [t.lockKey]);
    } catch (error) {
      await client.query('RESET lock_timeout').catch(() => {});
      if ((error as { code?: string }).code === '55P03') throw new LockWaitTimeoutError(qualified, wait, await holderOf(client, t.lockKey));
      throw error;
    }
  }
  try {
    // PostgreSQL >= 14 on Linux: notice a vanished client during a long statement and end the session, so a
    // killed runner's transaction rolls back and its lock goes away promptly. Older servers: ignored.
    await client.query('SET client_connection_check_interval = 1000').catch(() => {});
    await client.query(`SET lock_timeout = ${ms(safety.lockTimeoutMs ?? DEFAULT_SAFETY.lockTimeoutMs)}`);
    await client.query(`SET statement_timeout = ${ms(safety.statementTimeoutMs ?? DEFAULT_SAFETY.statementTimeoutMs)}`);
    return await fn();
  } finally {
    // A failed migration may leave the session inside an aborted transaction; leave it clean.
    await client.query('ROLLBACK').catch(() => {});
    await client.query('SELECT pg_advisory_unlock($1::bigint)', [t.lockKey]).catch(() => {});
    await client.query('RESET lock_timeout; RESET statement_timeout').catch(() => {});
    await client.query('RESET client_connection_check_interval').catch(() => {});
  }
}

/** The lock holder in words, or undefined when it cannot be told (it let go meanwhile, or the query failed). */
async function holderOf(client: pg.ClientBase, key: string): Promise<string | undefined> {
  try {
    const holders = await advisoryLockHolders(client, key);
    return holders.length ? holders.map(describeHolder).join('; ') : undefined;
  } catch {
    return undefined;
  }
}

function ms(value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new MigratorError(`Invalid timeout ${value}: expected milliseconds (integer >= 0).`);
  return value;
}
