import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { eachTestDatabase, type TestDatabase } from '../support/db.ts';
import { testFixture, type Fixture } from '../engine/fixtures.ts';
import { run, start } from './helpers.ts';

let db: TestDatabase;
let fx: Fixture;
let c: pg.Client;
eachTestDatabase('conc', (d, client) => ((db = d), (c = client)));

const advisoryLocks = async () =>
  (await c.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)).rows[0].n;

async function until<T>(probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('concurrent runners', () => {
  it('five concurrent `up` processes apply each migration exactly once', async () => {
    // Each migration appends to a log table, so a double apply would show as a second row.
    const files: Record<string, string> = {
      '0001_log.sql': '-- Up Migration\nCREATE TABLE apply_log (name text NOT NULL);\nINSERT INTO apply_log VALUES (\'0001\');\n',
    };
    for (let i = 2; i <= 4; i++) {
      files[`000${i}_step.sql`] = `-- Up Migration\nINSERT INTO apply_log VALUES ('000${i}');\nSELECT pg_sleep(0.2);\n`;
    }
    fx = testFixture(files);
    const results = await Promise.all(
      Array.from({ length: 5 }, () => run(['--dir', fx.dir, 'up'], { DATABASE_URL: db.url })),
    );
    expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0, 0]);
    const applying = results.filter((r) => r.stdout.startsWith('Applied'));
    expect(applying.map((r) => r.stdout).join('')).toBe('Applied 4 migration(s): 0001_log, 0002_step, 0003_step, 0004_step\n');
    expect(results.filter((r) => r.stdout.startsWith('Nothing to apply'))).toHaveLength(4);
    expect((await c.query('SELECT name, count(*)::int AS n FROM apply_log GROUP BY name ORDER BY name')).rows).toEqual([
      { name: '0001', n: 1 }, { name: '0002', n: 1 }, { name: '0003', n: 1 }, { name: '0004', n: 1 },
    ]);
    expect((await c.query('SELECT count(*)::int AS n FROM pgmigrations')).rows[0].n).toBe(4);
    expect(await advisoryLocks()).toBe(0);
  });

  it('a runner killed in the middle of a migration leaves no partial change and no lock; the next run completes', async () => {
    fx = testFixture({
      '0001_base.sql': '-- Up Migration\nCREATE TABLE base (id int);\n',
      // Does work, then sleeps while the flag table exists (the test drops it before re-running).
      '0002_slow.sql': `-- Up Migration
CREATE TABLE partial (id int);
INSERT INTO partial VALUES (1);
SELECT pg_sleep(CASE WHEN to_regclass('public.slow_flag') IS NULL THEN 0 ELSE 60 END);
`,
    });
    await c.query('CREATE TABLE slow_flag ()');
    const { child, done } = start(['--dir', fx.dir, 'up'], { DATABASE_URL: db.url });
    const sleeping = await until(
      async () => (await c.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE '%pg_sleep(CASE%' AND state = 'active'`)).rows[0].n,
      (n) => n > 0,
    );
    expect(sleeping).toBe(1);
    expect(await advisoryLocks()).toBe(1);
    child.kill('SIGKILL');
    await done;
    // The server notices the vanished client (client_connection_check_interval), rolls back and frees the lock.
    expect(await until(advisoryLocks, (n) => n === 0)).toBe(0);
    expect((await c.query(`SELECT to_regclass('public.partial') AS t`)).rows[0].t).toBeNull();
    expect((await c.query('SELECT name FROM pgmigrations ORDER BY id')).rows).toEqual([{ name: '0001_base' }]);
    await c.query('DROP TABLE slow_flag');
    const next = await run(['--dir', fx.dir, 'up'], { DATABASE_URL: db.url });
    expect(next).toMatchObject({ code: 0, stdout: 'Applied 1 migration(s): 0002_slow\n' });
    expect((await c.query('SELECT count(*)::int AS n FROM partial')).rows[0].n).toBe(1);
  });

  it('a second process waits for the lock and fails with a clear message after --lock-wait-timeout', async () => {
    fx = testFixture({ '0001_a.sql': '-- Up Migration\nCREATE TABLE a (id int);\n' });
    const holder = await db.client();
    const { tablesOf } = await import('../../functions/core/migrate/state.ts');
    await holder.query('SELECT pg_advisory_lock($1::bigint)', [tablesOf({ dir: fx.dir }).lockKey]);
    const r = await run(['--dir', fx.dir, '--lock-wait-timeout', '500', 'up'], { DATABASE_URL: db.url });
    expect(r.code).toBe(1);
    const pid = (holder as unknown as { processID: number }).processID;
    expect(r.stderr).toMatch(
      new RegExp(
        `^error: Another migration run is holding the lock for public\\.pgmigrations and did not finish within 500 ms \\(held by pid ${pid}, .*idle since .*\\)\\. ` +
          'Nothing was changed\\. Wait for it to finish \\(see `migrator runs`\\) and retry, or raise --lock-wait-timeout; ' +
          'a holder left behind by a dead run can be ended with `migrator unlock --yes`\\.\\n$',
      ),
    );
    expect((await c.query(`SELECT to_regclass('public.a') AS t`)).rows[0].t).toBeNull();
  });
});
