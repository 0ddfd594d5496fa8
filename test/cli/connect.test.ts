/**
 * Connections as a user meets them, through the real launcher: a bad URL fails at once (never echoing the
 * password), unknown hosts and rejected credentials are not retried, each retry prints one line as it
 * happens, the final message says what to check; timeouts out of range are usage errors; a signal says
 * what it interrupted and leaves no lock behind.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { BASIC, fixture, type Fixture } from '../engine/fixtures.ts';
import { freePort } from '../../local/embedded-postgres.ts';
import { cli, run, start } from './helpers.ts';

const SECRET = 'hunter2-do-not-print';

let fx: Fixture;
beforeEach(() => {
  fx = fixture(BASIC);
});
afterEach(() => fx.cleanup());

/** Resolves with the stderr text once `pattern` appears in it (or rejects when the process ends first). */
function waitForStderr(child: ReturnType<typeof start>['child'], pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (d: Buffer) => {
      text += d;
      if (pattern.test(text)) {
        child.stderr!.off('data', onData);
        resolve(text);
      }
    };
    child.stderr!.on('data', onData);
    child.once('close', () => reject(new Error(`process ended before ${pattern}: ${text}`)));
  });
}

describe('database URLs and connection failures', () => {
  it('an unparseable URL fails at once, names the problem, never prints the password, is not retried', async () => {
    for (const [url, why] of [
      ['garbage', 'it does not start with postgres:// or postgresql://'],
      [`postgres://app:${SECRET}@db:port/app`, 'it cannot be parsed as a URL'],
      [`mysql://app:${SECRET}@db/app`, 'its scheme is "mysql:", not postgres: or postgresql:'],
    ] as const) {
      const r = await run(['--dir', fx.dir, 'status'], { DATABASE_URL: url });
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        `error: The database URL (--database-url / DATABASE_URL) is not usable: ${why}. Expected postgres://USER:PASSWORD@HOST:PORT/DATABASE (percent-encode special characters in the password).\n`,
      );
      expect(r.stderr).not.toContain(SECRET);
    }
  }, 300_000);

  it('an unknown host is not retried; the message says to check the host name', async () => {
    const r = await run(['--dir', fx.dir, 'status'], { DATABASE_URL: `postgres://app:${SECRET}@no-such-host.invalid/app` });
    expect(r.code).toBe(1);
    expect(r.stderr).not.toMatch(/attempt \d+ of/); // no retry line
    expect(r.stderr).toMatch(/^error: Could not connect to PostgreSQL at no-such-host\.invalid:5432\/app after 1 attempt\(s\): .*(ENOTFOUND|EAI_AGAIN).*Check the host name in the URL/);
    expect(r.stderr).not.toContain(SECRET);
  }, 300_000);

  it('rejected credentials are not retried; the message says to check user and password', async () => {
    const db = await createTestDatabase('conn');
    try {
      const u = new URL(db.url);
      u.username = 'no_such_role_for_migrator';
      u.password = SECRET;
      const r = await run(['--dir', fx.dir, 'status'], { DATABASE_URL: u.toString() });
      expect(r.code).toBe(1);
      expect(r.stderr).not.toMatch(/attempt \d+ of/);
      expect(r.stderr).toMatch(/^error: Could not connect to PostgreSQL at .* after 1 attempt\(s\): .*no_such_role_for_migrator.* \(not retried: retrying cannot help\)\. Check the user name and password in the URL/);
      expect(r.stderr).not.toContain(SECRET);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    } finally {
      await db.drop();
    }
  }, 300_000);

  it('a refused connection prints one line per retry as it happens, then says what to check', async () => {
    const port = await freePort(); // nothing listens there
    const url = `postgres://app:${SECRET}@127.0.0.1:${port}/app`;
    // Default retries: the first line is printed right after the first refusal, while the process still runs.
    const live = start(['--dir', fx.dir, 'status'], { DATABASE_URL: url });
    const first = await waitForStderr(live.child, /\n/);
    expect(live.child.exitCode).toBeNull();
    expect(first).toMatch(new RegExp(`^Connecting to 127\\.0\\.0\\.1:${port}/app: attempt 1 of 6 failed \\(connection refused \\(ECONNREFUSED\\)\\); next attempt in \\d+\\.\\d s\\.\\n$`));
    live.child.kill('SIGTERM');
    expect((await live.done).code).toBe(143);

    const r = await run(['--connect-retries', '2', '--dir', fx.dir, 'status'], { DATABASE_URL: url });
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/attempt 1 of 3 failed \(connection refused \(ECONNREFUSED\)\); next attempt in/);
    expect(lines[1]).toMatch(/attempt 2 of 3 failed/);
    expect(lines[2]).toMatch(new RegExp(`^error: Could not connect to PostgreSQL at 127\\.0\\.0\\.1:${port}/app after 3 attempt\\(s\\): .*Check that PostgreSQL is running and listening on 127\\.0\\.0\\.1:${port}`));
    expect(r.stderr).not.toContain(SECRET);
  }, 300_000);
});

describe('timeout options', () => {
  it('values above 2^31-1 ms, 21 digits or non-numbers are usage errors naming the option', async () => {
    // The parsing is the same code in-process; the launcher is spawned once per option below.
    for (const option of ['--lock-wait-timeout', '--lock-timeout', '--statement-timeout', '--connect-timeout']) {
      const spawned = await run([option, '999999999999999999999', '--dir', fx.dir, 'status']);
      expect(spawned.code).toBe(2);
      expect(spawned.stderr).toBe(`error: option '${option} <ms>' argument '999999999999999999999' is invalid. at most 2147483647 ms (about 24.8 days).\n(run with --help for usage)\n`);
      for (const value of ['2147483648', 'soon', '-1', '1.5', '']) {
        const r = await cli([option, value, '--dir', fx.dir, 'status']);
        expect(r.code, `${option} ${value}`).toBe(2);
        expect(r.stderr).toMatch(new RegExp(`^error: option '${option} <ms>' argument '${value.replace('.', '\\.')}' is invalid\\.`));
      }
    }
    const ok = await cli(['--connect-timeout', '2147483647', '--dir', fx.dir, 'status']);
    expect(ok.code).toBe(1); // accepted: fails later, for want of a database
    expect(ok.stderr).toMatch(/No database given/);
  }, 300_000);
});

describe('signals', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase('sig');
  });
  afterEach(() => db.drop());

  it('SIGTERM during a migration prints what was interrupted; the transaction is rolled back and the lock released', async () => {
    fx.write('0004_slow.sql', '-- Up Migration\nCREATE TABLE slow_marker (id int);\nSELECT pg_sleep(60);\n');
    const c = await db.client();
    const live = start(['--dir', fx.dir, 'up'], { DATABASE_URL: db.url });
    // Wait (bounded) until the slow migration's statement is running.
    for (let i = 0; ; i++) {
      const { rows } = await c.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()`, [db.name]);
      if (rows[0].n > 0) break;
      if (i > 600) throw new Error('the slow migration never started');
      await new Promise((r) => setTimeout(r, 50));
    }
    live.child.kill('SIGTERM');
    const r = await live.done;
    expect(r.code).toBe(143);
    expect(r.stderr).toMatch(/^applied 0001_widgets \(\d+ ms\)\napplied 0002_gadgets \(\d+ ms\)\napplied 0003_widget_color \(\d+ ms\)\nSIGTERM: interrupted `migrator up` \(last step: .*\)\. Its database session ends with the process, so PostgreSQL rolls back the transaction in progress and releases the migration lock; what was committed before stays\.\n$/);
    // The session is gone: no advisory lock left, the slow migration's table rolled back, the three before it committed.
    for (let i = 0; ; i++) {
      // This database's locks only: the server is shared with other test files.
      const { rows } = await c.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`);
      if (rows[0].n === 0) break;
      if (i > 600) throw new Error('advisory lock still held');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await c.query(`SELECT to_regclass('slow_marker') IS NULL AS gone`)).rows[0].gone).toBe(true);
    expect((await c.query('SELECT name FROM pgmigrations ORDER BY id')).rows.map((x) => x.name)).toEqual(['0001_widgets', '0002_gadgets', '0003_widget_color']);
  }, 300_000);
});
