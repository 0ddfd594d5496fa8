/**
 * One dedicated connection per operation, the run-serializing advisory lock and the migration deadlines.
 */
import pg from 'pg';
import { boundQueries, closeClient, connect, destroyClient, queryBoundOf } from '../db.ts';
import { LockLostError, LockWaitTimeoutError, MigratorError } from '../errors.ts';
import { describeHolder, migrationLockHolders } from './lock-holder.ts';
import type { Tables } from './state.ts';
import { lockRow } from '../lock-row.ts';
import { DEFAULT_SAFETY, lockLeaseMs, type MigrationTarget, type SafetyOptions } from './types.ts';

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
    await closeClient(client);
  }
}

/**
 * The migration lock: a row lock (`SELECT ... FOR UPDATE`) on the one row of `<schema>.<table>_lock`, held by
 * a dedicated lock connection in a transaction that stays open while `fn` runs.
 *
 * Why not (only) an advisory lock: `pg_advisory_lock` is executable by PUBLIC, so the application role (or
 * anyone who can log in) could take the key and block every deploy; revoking it breaks applications' own
 * advisory locks and is not possible on RDS. Locking a row needs UPDATE on its table, and the lock table grants
 * nothing to anyone but its owner (the migrator role). A row lock, not a table lock: any role can take ACCESS
 * SHARE on any table by oid without privileges (e.g. `pg_relation_size` inside a transaction), which would
 * conflict with a table lock. Why a second connection: a row lock lasts one transaction, and migrations run
 * one transaction each on `client`. The lock session disables idle_in_transaction_session_timeout (it is idle
 * in transaction by design) and keeps the main session's settings (keepalives); a runner that dies takes both
 * sessions, and so the lock, with it.
 *
 * Before the lock table exists (a fresh database, or the first run after upgrading) the run serializes on
 * the advisory lock, as earlier versions did, and creates the lock table inside the lock session's open
 * transaction: other runs do not see it until this run ends (they wait on the advisory lock), and a run that
 * writes nothing rolls it back, so a refused run leaves nothing behind. Later runs use the row lock only.
 *
 * A second runner waits up to `lockWaitTimeoutMs` (lock_timeout bounds both waits), then fails with
 * LockWaitTimeoutError naming the holder. While `fn` runs, `client` has the migration `lock_timeout` and
 * `statement_timeout`; both are reset after.
 */
export async function withLock<T>(
  client: pg.ClientBase,
  t: Tables,
  safety: SafetyOptions,
  fn: () => Promise<T>,
): Promise<T> {
  const wait = ms(safety.lockWaitTimeoutMs ?? DEFAULT_SAFETY.lockWaitTimeoutMs);
  const statementTimeout = ms(safety.statementTimeoutMs ?? DEFAULT_SAFETY.statementTimeoutMs);
  const idle = ms(safety.idleTimeoutMs ?? DEFAULT_SAFETY.idleTimeoutMs);
  const lease = lockLeaseMs(statementTimeout, idle);
  const qualified = `${t.schema}.${t.table}`;
  const timedOut = async (error: unknown) =>
    (error as { code?: string }).code === '55P03' ? new LockWaitTimeoutError(qualified, wait, await holderOf(client, t)) : error;

  let advisory = false;
  let creating = false;
  if (!(await lockTableExists(client, t))) {
    await client.query('SET statement_timeout = 0');
    await client.query(`SET lock_timeout = ${wait}`);
    try {
      const { rows } = await client.query(wait === 0 ? 'SELECT pg_try_advisory_lock($1::bigint) AS ok' : 'SELECT pg_advisory_lock($1::bigint), true AS ok', [t.lockKey]);
      if (!rows[0].ok) throw Object.assign(new Error('advisory lock busy'), { code: '55P03' });
    } catch (error) {
      throw await timedOut(error);
    } finally {
      await client.query('RESET lock_timeout; RESET statement_timeout').catch(() => {});
    }
    advisory = true;
    // Another run may have created it while we waited; otherwise this run creates it (if its schema exists).
    creating = !(await lockTableExists(client, t)) && (await schemaExists(client, t.schema));
  }

  let lock: pg.Client | undefined;
  try {
    if (advisory && !creating && !(await lockTableExists(client, t))) {
      // No schema yet: the advisory lock alone serializes this run; the next one creates the lock table.
    } else {
      lock = await openLockSession(client);
      await lock.query(`SET idle_in_transaction_session_timeout = ${lease}; SET statement_timeout = 0; BEGIN`);
      if (creating) await createLockTable(lock, t);
      if (wait > 0) await lock.query(`SET LOCAL lock_timeout = ${wait}`);
      await lockRow(lock, lockTable(t), { nowait: wait === 0 });
      await lock.query('SET LOCAL lock_timeout = 0');
    }
  } catch (error) {
    await lock?.end().catch(() => {});
    if (advisory) await client.query('SELECT pg_advisory_unlock($1::bigint)', [t.lockKey]).catch(() => {});
    throw await timedOut(error);
  }

  // The lease: a heartbeat on the lock session; losing that session stops the run (see above).
  let lockLost: unknown;
  let holding = true;
  const lose = (error: unknown) => {
    if (!holding || lockLost !== undefined) return;
    lockLost = error ?? new Error('the lock session ended');
    client.on('error', () => {}); // a caller's own client may have no listener: the error is ours, expected
    destroyClient(client); // no statement of this run may go on without the lock
  };
  const heldLock = lock;
  heldLock?.on('error', lose);
  heldLock?.on('end', () => lose(new Error('Connection terminated unexpectedly')));
  const heartbeat = heldLock && lease > 0
    ? setInterval(() => void heldLock.query('SELECT 1').catch(lose), Math.max(100, Math.floor(idle / 3)))
    : undefined;
  heartbeat?.unref();

  try {
    // PostgreSQL >= 14 on Linux: notice a vanished client during a long statement and end the session, so a
    // killed runner's transaction rolls back and its lock goes away promptly. Older servers: ignored.
    await client.query('SET client_connection_check_interval = 1000').catch(() => {});
    await client.query(`SET lock_timeout = ${ms(safety.lockTimeoutMs ?? DEFAULT_SAFETY.lockTimeoutMs)}`);
    await client.query(`SET statement_timeout = ${statementTimeout}`);
    // Inside a migration's transaction only: a busy runner between migrations (loading, parsing) holds nothing.
    if (idle > 0) await client.query(`SET idle_in_transaction_session_timeout = ${idle}`);
    return await fn();
  } catch (error) {
    // Did the lock go first? Ask its session (a lost one answers at once with its error).
    const lost = lockLost ?? (heldLock ? await heldLock.query('SELECT 1').then(() => undefined, (e: unknown) => e) : undefined);
    if (lost !== undefined) throw new LockLostError(qualified, lease, { cause: error, lockCause: lost });
    throw error;
  } finally {
    holding = false;
    clearInterval(heartbeat);
    // A failed migration may leave the session inside an aborted transaction; leave it clean.
    await client.query('ROLLBACK').catch(() => {});
    await client.query('RESET lock_timeout; RESET statement_timeout').catch(() => {});
    if (idle > 0) await client.query('RESET idle_in_transaction_session_timeout').catch(() => {});
    await client.query('RESET client_connection_check_interval').catch(() => {});
    if (lock) {
      // A lock table created by this run stays only if the run left a migrations table (it wrote something).
      const keep = creating && (await lock.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [t.migrations]).then((r) => r.rows[0]?.ok, () => false));
      await lock.query(keep ? 'COMMIT' : 'ROLLBACK').catch(() => {});
      await closeClient(lock);
    }
    if (advisory) await client.query('SELECT pg_advisory_unlock($1::bigint)', [t.lockKey]).catch(() => {});
  }
}

/** `"schema"."<table>_lock"`: the migration lock's table. */
export function lockTable(t: Tables): string {
  return `${pg.escapeIdentifier(t.schema)}.${pg.escapeIdentifier(`${t.table}_lock`)}`;
}

async function lockTableExists(client: pg.ClientBase, t: Tables): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [lockTable(t)]);
  return rows[0]?.ok === true;
}

async function schemaExists(client: pg.ClientBase, schema: string): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>('SELECT to_regnamespace($1) IS NOT NULL AS ok', [pg.escapeIdentifier(schema)]);
  return rows[0]?.ok === true;
}

/**
 * The lock table with its one row, owned by the role that migrates, no privilege for anyone else (even if
 * default privileges granted some). Runs inside the lock session's transaction (see withLock).
 */
async function createLockTable(lock: pg.Client, t: Tables): Promise<void> {
  const name = lockTable(t);
  await lock.query(
    `CREATE TABLE ${name} (id int PRIMARY KEY CHECK (id = 1));
     COMMENT ON TABLE ${name} IS 'Migration lock of ${t.schema}.${t.table}: the running migrator holds a row lock; no privileges for anyone else.';
     REVOKE ALL ON ${name} FROM PUBLIC;
     INSERT INTO ${name} (id) VALUES (1)`,
  );
  const { rows } = await lock.query<{ role: string }>(
    `SELECT DISTINCT a.grantee::regrole::text AS role FROM pg_class c, aclexplode(c.relacl) a
      WHERE c.oid = $1::regclass AND a.grantee <> 0 AND a.grantee <> c.relowner`,
    [name],
  );
  for (const g of rows) await lock.query(`REVOKE ALL ON ${name} FROM ${g.role}`);
}

/** A second session with the same server, database, role and settings as `client` (pg keeps them resolved). */
async function openLockSession(client: pg.ClientBase): Promise<pg.Client> {
  const c = client as unknown as { connectionParameters: pg.ClientConfig & { application_name?: string; options?: string }; password?: string };
  const p = c.connectionParameters;
  const lock = new pg.Client({
    user: p.user,
    password: c.password ?? (p.password as string | undefined),
    host: p.host,
    port: p.port,
    database: p.database,
    ssl: p.ssl,
    options: p.options,
    application_name: `${p.application_name || 'migrator'}:lock`.slice(0, 63),
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
  });
  lock.on('error', () => {});
  await lock.connect();
  // The same client-side bound as the run's own session (the CLI's): a stalled lock session fails too.
  const bound = queryBoundOf(client);
  if (bound) boundQueries(lock, bound);
  return lock;
}

/** The lock holder in words, or undefined when it cannot be told (it let go meanwhile, or the query failed). */
async function holderOf(client: pg.ClientBase, t: Tables): Promise<string | undefined> {
  try {
    const holders = await migrationLockHolders(client, t);
    return holders.length ? holders.map(describeHolder).join('; ') : undefined;
  } catch {
    return undefined;
  }
}

function ms(value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new MigratorError(`Invalid timeout ${value}: expected milliseconds (integer >= 0).`);
  return value;
}
