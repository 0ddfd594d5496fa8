/**
 * The run history as users meet it through the CLI: every state-changing command writes one row (actor,
 * command, outcome, error), `runs` shows them, `history` run ids resolve with `runs --id`, `seed` migrates
 * first, and a run killed mid-migration is closed as `abandoned` by the next one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { bootstrapDev, startAwsStandIn, type AwsStandIn } from '../../local/aws-standin/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { fixture } from '../engine/fixtures.ts';
import { cli, ROOT, run, start } from './helpers.ts';

let db: TestDatabase;
let c: pg.Client;
beforeAll(async () => {
  db = await createTestDatabase('clirh');
  c = await db.client();
});
afterAll(async () => {
  await db.drop();
});

const runsJson = async (url: string, ...extra: string[]) => {
  const r = await cli(['runs', '--json', '--limit', '100', '--database-url', url, ...extra]);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Array<Record<string, any>>;
};

describe('every state-changing command writes one run row', () => {
  let standIn: AwsStandIn;
  let seedsDir: string;
  const saved = { ...process.env };
  beforeAll(async () => {
    standIn = await startAwsStandIn();
    await bootstrapDev(standIn);
    Object.assign(process.env, standIn.clientEnv(), { MIGRATOR_ACTOR: 'alice@example' });
    seedsDir = mkdtempSync(join(tmpdir(), 'seeds-rh-'));
    cpSync(join(ROOT, 'seeds'), seedsDir, { recursive: true });
  });
  afterAll(async () => {
    process.env = saved;
    await standIn.stop();
    rmSync(seedsDir, { recursive: true, force: true });
  });

  it('up, down, repair, baseline, seed, reseed, rotate-key, dev: one row each; runs shows them; history run ids resolve', async () => {
    const url = db.url;
    const dir = join(ROOT, 'migrations');
    const seeds = ['--seeds-dir', seedsDir];
    const steps: [string[], string][] = [
      // On a fresh database: seed applies the pending migrations first, as `invoke seed` does.
      [['seed', ...seeds], 'seed --stage local'],
      [['reseed', '--tenant', 'demo-acme', ...seeds], 'reseed --tenant demo-acme --stage local'],
      [['rotate-key', '--tenant', 'vela', ...seeds], 'rotate-key --tenant vela --stage local'],
      [['rotate-key', '--tenant', 'vela', '--confirm', ...seeds], 'rotate-key --tenant vela --confirm --stage local'],
      [['dev'], 'dev'],
      [['down', '--count', '1', ...seeds], 'down --count 1'],
      [['up'], 'up'],
      [['down', '--count', '1', ...seeds], 'down --count 1'],
      [['baseline', '--to', '0008_tenant_app_rls', '--yes'], 'baseline --to 0008_tenant_app_rls'],
      [['repair', '--yes'], 'repair'],
    ];
    for (const [args, _] of steps) {
      const r = await cli([...args, '--database-url', url, '--dir', dir]);
      expect({ args, code: r.code, stderr: r.code ? r.stderr : '' }).toEqual({ args, code: 0, stderr: '' });
    }
    // A command that fails while it runs is recorded as failed, with the error.
    const failed = await cli(['rotate-key', '--tenant', 'nope', ...seeds, '--database-url', url, '--dir', dir]);
    expect(failed.code).toBe(1);
    // A command refused before it changed anything (bad input) writes nothing, not even a row.
    const refused = await cli(['up', '--to', '0099_nope', '--database-url', url, '--dir', dir]);
    expect(refused).toMatchObject({ code: 1, stderr: expect.stringContaining('Unknown migration 0099_nope') });

    const rows = (await runsJson(url)).reverse();
    expect(rows.map((r) => r.command)).toEqual([...steps.map(([, command]) => command), 'rotate-key --tenant nope --stage local']);
    for (const r of rows) expect(r).toMatchObject({ trigger: 'local', stage: 'local', actor: 'alice@example', finishedAt: expect.any(String) });
    expect(rows.slice(0, -1).map((r) => r.outcome)).toEqual(steps.map(() => 'succeeded'));
    expect(rows.at(-1)).toMatchObject({ outcome: 'failed', error: expect.stringContaining('nope') });
    expect(rows[0]!.migrationsApplied).toHaveLength(8);
    expect(rows[0]!.seedSummary.counts.tenants).toBe(5);
    expect(rows[5]!.details).toEqual({ reverted: ['0008_tenant_app_rls'] });
    expect(rows[6]!.migrationsApplied).toEqual(['0008_tenant_app_rls']);
    expect(rows[8]!.details).toEqual({ marked: ['0008_tenant_app_rls'] });
    expect(JSON.stringify(rows[2]!.details)).toMatch(/"newPrefix":"tk_vela_/);

    // Every run id `history` shows is a run `runs --id` shows.
    const history = JSON.parse((await cli(['history', '--json', '--database-url', url, '--dir', dir])).stdout) as Array<{ name: string; runId: string | null; source: string }>;
    const ids = [...new Set(history.map((h) => h.runId))];
    expect(ids).not.toContain(null);
    for (const id of ids) expect((await runsJson(url, '--id', id!)).map((r) => r.id)).toEqual([id]);
    expect(history.find((h) => h.name === '0008_tenant_app_rls')).toMatchObject({ source: 'baseline', runId: rows[8]!.id });
    const text = await cli(['runs', '--database-url', url, '--id', rows[8]!.id]);
    expect(text.stdout).toMatch(/succeeded +local +local +baseline --to 0008_tenant_app_rls +by alice@example/);
    const unknown = await cli(['runs', '--database-url', url, '--id', '00000000-0000-0000-0000-000000000000']);
    expect(unknown).toMatchObject({ code: 1, stderr: 'No run 00000000-0000-0000-0000-000000000000 in public.migration_runs.\n' });
  }, 180_000);
});

describe('abandoned runs', () => {
  it('a CLI run killed with SIGKILL mid-migration is closed as abandoned by the next up, and runs shows it', async () => {
    const other = await createTestDatabase('clikill');
    const fx = fixture({
      '0001_base.sql': '-- Up Migration\nCREATE TABLE base (id int);\n',
      '0002_slow.sql': "-- Up Migration\nSELECT pg_sleep(CASE WHEN to_regclass('public.slow_flag') IS NULL THEN 0 ELSE 60 END);\n",
    });
    const oc = await other.client();
    try {
      await oc.query('CREATE TABLE slow_flag ()');
      const { child, done } = start(['--dir', fx.dir, 'up'], { DATABASE_URL: other.url, MIGRATOR_ACTOR: 'ci' });
      const sleepingPid = async () =>
        (await oc.query(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%pg_sleep(CASE%' AND state = 'active' AND pid <> pg_backend_pid()`)).rows[0]?.pid as number | undefined;
      let pid: number | undefined;
      for (let i = 0; i < 300 && !(pid = await sleepingPid()); i++) await new Promise((r) => setTimeout(r, 100));
      expect(pid).toBeTypeOf('number');
      const [running] = await runsJson(other.url);
      expect(running).toMatchObject({ command: 'up', outcome: 'running', actor: 'ci' });
      child.kill('SIGKILL');
      await done;
      // The server ends the orphaned backend once it notices the client is gone.
      for (let i = 0; i < 300 && (await oc.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rows.length; i++) await new Promise((r) => setTimeout(r, 100));
      await oc.query('DROP TABLE slow_flag');
      const next = await run(['--dir', fx.dir, 'up'], { DATABASE_URL: other.url, MIGRATOR_ACTOR: 'ci' });
      expect(next).toMatchObject({ code: 0, stdout: 'Applied 1 migration(s): 0002_slow\n' });
      const rows = await runsJson(other.url);
      expect(rows.map((r) => r.outcome)).toEqual(['succeeded', 'abandoned']);
      expect(rows[1]).toMatchObject({ id: running!.id, finishedAt: expect.any(String) });
      expect(rows[1]!.error).toContain(`backend pid ${pid}`);
      expect(rows[1]!.error).toContain(`closed by run ${rows[0]!.id}`);
      const text = await cli(['runs', '--database-url', other.url]);
      expect(text.stdout).toMatch(new RegExp(`abandoned +local +local +up +by ci .*${running!.id}`));
    } finally {
      fx.cleanup();
      await other.drop();
    }
  }, 120_000);
});
