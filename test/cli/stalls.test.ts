/**
 * Faults the CLI meets mid-run, through the real launcher (`node bin/migrator.mjs`), each against this
 * test's own database:
 * - a server that stops answering mid-query (a TCP proxy that goes silent): `up`, `status` and `seed` end
 *   at the client-side bound with a message naming the wait and the options that raise it; no lock is left
 *   and the run row is closed as failed;
 * - a runner frozen with SIGSTOP mid-migration: it loses its sessions and the migration lock within the
 *   lease, its transaction rolls back, the next `up` closes its row as abandoned and applies the migration,
 *   and once resumed it exits 1 saying it lost the lock; a long migration run is not cut by the lease;
 * - the connection lost mid-seed (cut by a proxy, or ended by the server as a restart does): a message
 *   naming the connection, the step and that nothing was written, instead of pg's raw words.
 * Waits are on events (sessions and locks gone from pg_stat_activity / pg_locks), never on elapsed time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { fixture } from '../engine/fixtures.ts';
import { fingerprint, seedEnv, type SeedEnv } from '../seed/helpers.ts';
import { startCuttingProxy, startStallingProxy } from '../handlers/support/stall.ts';
import { cli, run, start } from './helpers.ts';

const MARKER = 'stall_here_7f3a';

/** The same database through a proxy on `port`. */
function via(url: string, port: number): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return u.toString();
}
const upstreamOf = (url: string) => ({ host: new URL(url).hostname, port: Number(new URL(url).port || 5432) });

/** Wait for `what` to become true (polling); a cap only so a failing case ends, never an assertion on time. */
async function until(what: string, check: () => Promise<boolean>, capMs = 90_000): Promise<void> {
  for (const end = Date.now() + capMs; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
    if (await check()) return;
  }
  throw new Error(`gave up waiting for: ${what}`);
}

/** Our sessions (application_name migrator...) in this test's database. */
async function ourSessions(c: pg.Client): Promise<{ pid: number; application_name: string; state: string; wait_event_type: string | null; query: string }[]> {
  const { rows } = await c.query(
    `SELECT pid, application_name, state, wait_event_type, query FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name LIKE 'migrator%'`,
  );
  return rows;
}

/** Sessions holding the migration lock (the lock table's row lock) or any advisory lock, in this database. */
async function lockHolders(c: pg.Client): Promise<number[]> {
  const { rows } = await c.query(
    `SELECT pid FROM pg_locks
      WHERE granted AND pid <> pg_backend_pid() AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND ((locktype = 'relation' AND mode = 'RowShareLock' AND relation = to_regclass('public.pgmigrations_lock')) OR locktype = 'advisory')`,
  );
  return rows.map((r) => r.pid);
}

async function runsOf(url: string): Promise<Array<Record<string, any>>> {
  const r = await cli(['runs', '--json', '--database-url', url]);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
}

const BOUND = ['--statement-timeout', '1000', '--lock-wait-timeout', '1000'];

describe('a server that stops answering mid-query: every command ends at its client-side bound', () => {
  let db: TestDatabase;
  let c: pg.Client;
  beforeAll(async () => {
    db = await createTestDatabase('stall');
    c = await db.client();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('up: exit 1 naming the wait and the options; no lock left; the run row closed as failed', async () => {
    const fx = fixture({
      '0001_base.sql': '-- Up Migration\nCREATE TABLE base (id int);\n',
      // The marker sits past the 160 characters the message quotes, so the run row's error (written on a
      // fresh connection through the same proxy) does not stall too.
      '0002_stall.sql': `-- Up Migration\nCREATE TABLE half (id int);\n-- ${'.'.repeat(200)}\nSELECT '${MARKER}';\n`,
    });
    const { host, port } = upstreamOf(db.url);
    const proxy = await startStallingProxy(host, port, MARKER);
    try {
      const r = await run(['up', '--dir', fx.dir, '--database-url', via(db.url, proxy.port), ...BOUND, '--quiet']);
      expect(proxy.stalled).toBe(1);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`PostgreSQL at 127.0.0.1:${proxy.port}/${db.name} did not answer within 2000 ms (the client-side bound) while running "`);
      expect(r.stderr).toContain('the server, or the network to it, stopped answering');
      expect(r.stderr).toContain('the longer of --statement-timeout (1000 ms) and --lock-wait-timeout (1000 ms), plus 1000 ms');
      // The stalled session ends on the server once its socket closed; the lock went with the run's lock session.
      await until('the run sessions to end', async () => (await ourSessions(c)).length === 0);
      expect(await lockHolders(c)).toEqual([]);
      expect((await c.query(`SELECT to_regclass('public.half') IS NULL AS gone`)).rows[0].gone).toBe(true);
      expect((await c.query('SELECT name FROM pgmigrations ORDER BY id')).rows.map((x) => x.name)).toEqual(['0001_base']);
      const [row] = await runsOf(db.url);
      expect(row).toMatchObject({ command: 'up', outcome: 'failed', finishedAt: expect.any(String) });
      expect(row!.error).toContain('did not answer within 2000 ms');
    } finally {
      await proxy.close();
      fx.cleanup();
    }
  }, 120_000);

  it('status (reads only): exit 1 naming the wait', async () => {
    const { host, port } = upstreamOf(db.url);
    const proxy = await startStallingProxy(host, port, MARKER);
    const fx = fixture({ '0001_base.sql': '-- Up Migration\nCREATE TABLE base2 (id int);\n' });
    try {
      const r = await run(['status', '--dir', fx.dir, '--migrations-table', MARKER, '--database-url', via(db.url, proxy.port), ...BOUND]);
      expect(proxy.stalled).toBe(1);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^error: PostgreSQL at 127\.0\.0\.1:\d+\/\S+ did not answer within 2000 ms \(the client-side bound\) while running "/);
      expect(r.stderr).toContain('raise them if the database is only slow');
      await until('the status session to end', async () => (await ourSessions(c)).length === 0);
    } finally {
      await proxy.close();
      fx.cleanup();
    }
  }, 60_000);
});

describe('the seed: a stalled or lost connection mid-seed writes nothing and says so', () => {
  let env: SeedEnv;
  let before: Record<string, unknown>;
  beforeAll(async () => {
    env = await seedEnv();
    before = await tablesExceptRuns(env.client);
  });
  afterAll(async () => {
    await env.close();
  });

  async function tablesExceptRuns(c: pg.Client) {
    const f = await fingerprint(c);
    delete f['public.migration_runs'];
    return f;
  }
  const seedVia = (url: string, ...extra: string[]) =>
    run(['seed', '--stage', 'local', '--seeds-dir', env.seedsDir, '--database-url', url, '--quiet', ...extra], env.standIn.clientEnv());

  async function expectNothingWritten(errorPart: string) {
    await until('the seed sessions to end', async () => (await ourSessions(env.client)).length === 0);
    expect(await lockHolders(env.client)).toEqual([]);
    expect(await tablesExceptRuns(env.client)).toEqual(before);
    const [row] = await runsOf(env.db.url);
    expect(row).toMatchObject({ command: 'seed --stage local', outcome: 'failed', finishedAt: expect.any(String) });
    expect(row!.error).toContain(errorPart);
  }

  it('a server that stops answering mid-seed: exit 1 at the client-side bound, during the seed step, nothing written', async () => {
    const { host, port } = upstreamOf(env.db.url);
    const proxy = await startStallingProxy(host, port, 'INSERT INTO "users"');
    try {
      const r = await seedVia(via(env.db.url, proxy.port), ...BOUND);
      expect(proxy.stalled).toBe(1);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('did not answer within 2000 ms (the client-side bound) while running "INSERT INTO \\"users\\"');
      expect(r.stderr).toContain('This happened during the seed step. The seed runs in one transaction');
      expect(r.stderr).toContain('nothing of the seed was written');
      await expectNothingWritten('did not answer within 2000 ms');
    } finally {
      await proxy.close();
    }
  }, 120_000);

  it('the connection cut mid-seed (a proxy that dies): a message naming the lost connection and the step, nothing written', async () => {
    const { host, port } = upstreamOf(env.db.url);
    const proxy = await startCuttingProxy(host, port, 'INSERT INTO "users"');
    try {
      const r = await seedVia(via(env.db.url, proxy.port));
      expect(proxy.cut).toBe(1);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^error: The database connection to 127\\.0\\.0\\.1:${proxy.port}/${env.db.name} was lost during the seed step: `));
      expect(r.stderr).toContain('so nothing of the seed was written');
      expect(r.stderr).toContain('Run it again once the database answers.');
      expect(r.stderr).not.toContain('not queryable');
      await expectNothingWritten('was lost during the seed step');
    } finally {
      await proxy.close();
    }
  }, 120_000);

  it('the server ends the session mid-seed, as a restart does (57P01): the message says so, nothing written', async () => {
    // The seed waits on the users table (held here), then its backend is terminated as a shutdown would.
    const holder = await env.db.client();
    await holder.query('BEGIN; LOCK TABLE users IN EXCLUSIVE MODE'); // reads go on, writes wait
    const { child, done } = start(
      ['seed', '--stage', 'local', '--seeds-dir', env.seedsDir, '--database-url', env.db.url, '--quiet', '--lock-timeout', '60000'],
      env.standIn.clientEnv(),
    );
    try {
      let pid: number | undefined;
      await until('the seed to wait on the users table', async () => {
        pid = (await ourSessions(env.client)).find((s) => s.wait_event_type === 'Lock' && s.query.includes('INSERT INTO "users"'))?.pid;
        return pid !== undefined;
      });
      await env.client.query('SELECT pg_terminate_backend($1)', [pid]);
      const r = await done;
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^error: The database connection to \S+ was lost during the seed step: the server ended the session \(SQLSTATE 57P01: a restart, a failover or pg_terminate_backend\)\. /);
      expect(r.stderr).toContain('so nothing of the seed was written');
      expect(r.stderr).not.toContain('not queryable');
      await holder.query('ROLLBACK');
      await expectNothingWritten('SQLSTATE 57P01');
    } finally {
      child.kill('SIGKILL');
      await holder.query('ROLLBACK').catch(() => {});
    }
  }, 120_000);
});

describe('a frozen runner (SIGSTOP) loses the migration lock within its lease', () => {
  it('the lock and sessions go, its migration is rolled back, the next up closes its row and applies; resumed, it exits 1', async () => {
    const db = await createTestDatabase('frozen');
    const c = await db.client();
    const fx = fixture({
      '0001_gate.sql': '-- Up Migration\nCREATE TABLE gate (id int);\n',
      '0002_gated.sql': '-- Up Migration\nCREATE TABLE half (id int);\nINSERT INTO gate VALUES (1);\n',
    });
    const env = { DATABASE_URL: db.url, MIGRATOR_ACTOR: 'ci' };
    const gate = await db.client();
    let frozen: ReturnType<typeof start> | undefined;
    try {
      expect((await run(['--dir', fx.dir, 'up', '--to', '0001_gate', '--quiet'], env)).code).toBe(0);
      // The migration waits on a table lock this test holds.
      await gate.query('BEGIN; LOCK TABLE gate IN ACCESS EXCLUSIVE MODE');
      // Lease: 3000 + 2 x 1500 ms. The statement bound ends the wait, the idle timeout the session.
      frozen = start(['--dir', fx.dir, 'up', '--quiet', '--statement-timeout', '3000', '--lock-timeout', '60000', '--idle-timeout', '1500'], env);
      let mainPid: number | undefined;
      await until('the migration to wait on the gate', async () => {
        mainPid = (await ourSessions(c)).find((s) => s.wait_event_type === 'Lock' && s.query.includes('INSERT INTO gate'))?.pid;
        return mainPid !== undefined;
      });
      const holders = await lockHolders(c);
      expect(holders).toHaveLength(1);
      const [running] = await runsOf(db.url);
      expect(running).toMatchObject({ command: 'up', outcome: 'running' });
      frozen.child.kill('SIGSTOP');

      // The server ends both sessions of the frozen runner: the lock is free again.
      await until('the frozen runner to lose its lock and sessions', async () => {
        const pids = (await ourSessions(c)).map((s) => s.pid);
        return (await lockHolders(c)).length === 0 && !pids.includes(mainPid!) && !pids.includes(holders[0]!);
      });
      // Its migration was rolled back: nothing half-applied.
      expect((await c.query(`SELECT to_regclass('public.half') IS NULL AS gone`)).rows[0].gone).toBe(true);
      await gate.query('ROLLBACK');

      const next = await run(['--dir', fx.dir, 'up'], env);
      expect(next).toMatchObject({ code: 0, stdout: 'Applied 1 migration(s): 0002_gated\n' });
      const rows = await runsOf(db.url);
      expect(rows.slice(0, 2).map((r) => r.outcome)).toEqual(['succeeded', 'abandoned']);
      expect(rows[1]).toMatchObject({ id: running!.id, finishedAt: expect.any(String) });

      // Resumed, the frozen runner does not go on: it says it lost the lock and exits 1.
      frozen.child.kill('SIGCONT');
      const r = await frozen.done;
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^error: Lost the migration lock of public\.pgmigrations: its lock session ended \(/);
      expect(r.stderr).toContain('(6000 ms: the statement timeout + 2 × the idle timeout)');
      expect(r.stderr).toContain('The run stopped instead of going on without the lock');
      expect((await c.query('SELECT count(*)::int AS n FROM gate')).rows[0].n).toBe(1);
      expect((await runsOf(db.url)).slice(0, 2).map((x) => x.outcome)).toEqual(['succeeded', 'abandoned']);
    } finally {
      frozen?.child.kill('SIGKILL');
      await gate.query('ROLLBACK').catch(() => {});
      fx.cleanup();
      await db.drop();
    }
  }, 180_000);

  it('a run longer than the lease keeps its lock: the heartbeat renews it', async () => {
    const db = await createTestDatabase('lease');
    const fx = fixture(Object.fromEntries([1, 2, 3, 4].map((i) => [`000${i}_slow.sql`, '-- Up Migration\nSELECT pg_sleep(2);\n'])));
    try {
      // Lease 3000 + 2 x 1500 = 6000 ms; the run takes about 8 s.
      const r = await run(['--dir', fx.dir, 'up', '--quiet', '--statement-timeout', '3000', '--idle-timeout', '1500'], { DATABASE_URL: db.url });
      expect(r).toMatchObject({ code: 0, stderr: '', stdout: 'Applied 4 migration(s): 0001_slow, 0002_slow, 0003_slow, 0004_slow\n' });
    } finally {
      fx.cleanup();
      await db.drop();
    }
  }, 120_000);
});
