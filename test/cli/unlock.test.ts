/**
 * `migrator unlock` through the real launcher: shows who holds the migration lock, refuses without --yes,
 * refuses a holder that is running a statement unless --force, ends a leftover holder and records a run row.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { fixture, type Fixture } from '../engine/fixtures.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, run } from './helpers.ts';

let db: TestDatabase;
let fx: Fixture;

beforeEach(async () => {
  db = await createTestDatabase('unlock');
  // The project's own run-history table, so the unlock is recorded where every run is.
  fx = fixture({ '0001_migration_runs.sql': readFileSync(join(ROOT, 'migrations/0002_migration_runs.sql'), 'utf8') });
});
afterEach(async () => {
  fx?.cleanup();
  await db?.drop();
});

async function session(applicationName: string) {
  const c = new pg.Client({ connectionString: db.url, application_name: applicationName });
  c.on('error', () => {});
  await c.connect();
  return c;
}

/** What a run left behind: its lock session, idle in transaction on the lock row (the lock table exists after a first up). */
async function leftoverHolder(applicationName: string) {
  const holder = await session(`${applicationName}:lock`);
  await holder.query('BEGIN');
  await holder.query('SELECT 1 FROM public.pgmigrations_lock WHERE id = 1 FOR UPDATE');
  return holder;
}

describe('migrator unlock', () => {
  it('without --yes shows the holder and ends nothing; with --yes ends it, records a run, and the next up runs', async () => {
    expect((await run(['--dir', fx.dir, 'up'], { DATABASE_URL: db.url })).code).toBe(0);
    const holder = await leftoverHolder('migrator:dead-run');
    const pid = (holder as unknown as { processID: number }).processID;
    // A session of the same name on another database of the server: not this lock's run, never ended.
    const other = await createTestDatabase('unlock_other');
    const bystander = new pg.Client({ connectionString: other.url, application_name: 'migrator:dead-run' });
    bystander.on('error', () => {});
    await bystander.connect();
    const bystanderPid = (bystander as unknown as { processID: number }).processID;

    const look = await run(['--dir', fx.dir, 'unlock'], { DATABASE_URL: db.url });
    expect(look.code).toBe(1);
    expect(look.stdout).toMatch(new RegExp(`^held by  pid ${pid}, application_name "migrator:dead-run:lock", .*idle in transaction since .*last query: "SELECT 1 FROM public.pgmigrations_lock WHERE id = 1 FOR UPDATE"`));
    expect(look.stderr).toBe('Nothing was ended: pass --yes to end the session holding the lock.\n');

    const blocked = await run(['--dir', fx.dir, '--lock-wait-timeout', '0', 'up'], { DATABASE_URL: db.url });
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toMatch(new RegExp(`held by pid ${pid}, application_name "migrator:dead-run:lock"`));

    const done = await run(['--dir', fx.dir, 'unlock', '--yes', '--json'], { DATABASE_URL: db.url, MIGRATOR_ACTOR: 'oncall', MIGRATOR_STAGE: 'staging' });
    expect(done.code).toBe(0);
    const out = JSON.parse(done.stdout);
    expect(out.ended).toEqual([pid]);
    const c = await db.client();
    const { rows } = await c.query('SELECT trigger, stage, actor, command, outcome, details FROM migration_runs WHERE id = $1', [out.runId]);
    expect(rows[0]).toMatchObject({ trigger: 'local', stage: 'staging', actor: 'oncall', outcome: 'succeeded', command: 'unlock' });
    expect(rows[0].details.ended).toEqual([pid]);
    expect((await c.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [pid])).rows[0].n).toBe(0);
    expect((await bystander.query('SELECT pg_backend_pid() AS pid')).rows[0].pid).toBe(bystanderPid);
    await bystander.end();
    await other.drop();
    expect((await run(['--dir', fx.dir, '--lock-wait-timeout', '0', 'up'], { DATABASE_URL: db.url })).code).toBe(0);
    expect((await run(['--dir', fx.dir, 'unlock', '--yes'], { DATABASE_URL: db.url })).stdout).toBe('Nobody holds the migration lock.\n');
  });

  it('refuses a holder whose run is running a statement unless --force; --force ends the run and its lock', async () => {
    expect((await run(['--dir', fx.dir, 'up'], { DATABASE_URL: db.url })).code).toBe(0);
    const holder = await leftoverHolder('migrator:busy-run');
    const lockPid = (holder as unknown as { processID: number }).processID;
    const main = await session('migrator:busy-run');
    const pid = (main as unknown as { processID: number }).processID;
    const busy = main.query('SELECT pg_sleep(30)').catch((e: Error) => e);
    const c = await db.client();
    // Wait until the holder is really running its statement (order, not time).
    for (let i = 0; i < 100; i++) {
      const { rows } = await c.query('SELECT state FROM pg_stat_activity WHERE pid = $1', [pid]);
      if (rows[0]?.state === 'active') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const refused = await run(['--dir', fx.dir, 'unlock', '--yes'], { DATABASE_URL: db.url });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`held by a run that is running a statement now \\(pid ${lockPid}, application_name "migrator:busy-run:lock".*\\)\\. Nothing was ended\\. .*--force`));
    expect((await c.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ANY($1)', [[pid, lockPid]])).rows[0].n).toBe(2);
    const forced = await run(['--dir', fx.dir, 'unlock', '--yes', '--force', '--json'], { DATABASE_URL: db.url });
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.stdout).ended.sort()).toEqual([pid, lockPid].sort());
    expect(await busy).toBeInstanceOf(Error);
  });
});
