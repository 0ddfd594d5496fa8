import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { BASIC, fixture, type Fixture } from '../engine/fixtures.ts';
import { cli, run } from './helpers.ts';
import { packageVersion } from '../../bin/migrator.ts';

let db: TestDatabase;
let fx: Fixture;
beforeEach(async () => {
  db = await createTestDatabase('cli');
  fx = fixture(BASIC);
});
afterEach(async () => {
  fx.cleanup();
  await db.drop();
});

describe('migrator in-process', () => {
  it('status --json has exactly the documented shape', async () => {
    const g = ['--database-url', db.url, '--dir', fx.dir];
    expect((await cli([...g, 'up', '--to', '0001_widgets'])).code).toBe(0);
    const r = await cli([...g, 'status', '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(Object.keys(s)).toEqual(['applied', 'pending', 'problems', 'warnings']);
    expect(s.applied).toEqual([{ name: '0001_widgets', checksum: expect.stringMatching(/^[0-9a-f]{64}$/), appliedAt: expect.any(String) }]);
    expect(Object.keys(s.applied[0])).toEqual(['name', 'checksum', 'appliedAt']);
    expect(s.pending).toEqual([{ name: '0002_gadgets' }, { name: '0003_widget_color' }]);
    expect(s.problems).toEqual([]);

    fx.write('0001_widgets.sql', `${BASIC['0001_widgets.sql']}-- edited\n`);
    const bad = await cli([...g, 'status', '--json']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).problems).toEqual([{ name: '0001_widgets', kind: 'edited', message: expect.stringContaining('0001_widgets.sql') }]);
  });

  it('plan and history take --json; plan writes nothing', async () => {
    const g = ['--database-url', db.url, '--dir', fx.dir];
    const p = await cli([...g, 'plan', '--json']);
    expect(p.code).toBe(0);
    expect(JSON.parse(p.stdout).pending.map((m: { name: string }) => m.name)).toEqual(['0001_widgets', '0002_gadgets', '0003_widget_color']);
    const c = await db.client();
    expect((await c.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`)).rows[0].n).toBe(0);
    await cli([...g, 'up']);
    const h = JSON.parse((await cli([...g, 'history', '--json'])).stdout);
    expect(h.map((e: { name: string; source: string }) => [e.name, e.source])).toEqual([
      ['0001_widgets', 'applied'], ['0002_gadgets', 'applied'], ['0003_widget_color', 'applied'],
    ]);
    expect(new Set(h.map((e: { runId: string }) => e.runId)).size).toBe(1);
  });

  it('validate, repair, baseline and down report and exit as documented', async () => {
    const g = ['--database-url', db.url, '--dir', fx.dir];
    expect(await cli([...g, 'baseline', '--to', '0001_widgets', '--yes'])).toMatchObject({ code: 0, stdout: 'Marked as applied: 0001_widgets\n' });
    const c = await db.client();
    await c.query('CREATE TABLE widgets (id serial PRIMARY KEY, name text NOT NULL)');
    expect((await cli([...g, 'up'])).stdout).toBe('Applied 2 migration(s): 0002_gadgets, 0003_widget_color\n');
    expect((await cli([...g, 'validate'])).code).toBe(0);
    fx.remove('0003_widget_color.sql');
    const v = await cli([...g, 'validate']);
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/^error: 1 problem\(s\) found.*0003_widget_color was applied.*migrator repair`\.\n$/);
    expect(v.stderr.split('\n').filter(Boolean)).toHaveLength(1); // one paragraph, no stack
    expect((await cli([...g, 'repair', '--yes'])).stdout).toBe('deleted-row-removed  0003_widget_color\n');
    expect((await cli([...g, 'down', '--count', '1'])).stdout).toBe('Reverted 1 migration(s): 0002_gadgets\n');
    expect((await cli([...g, 'down'])).code).toBe(2);
    const refused = await cli([...g, 'down', '--count', '1', '--stage', 'prod']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/prod.*protected|protected.*prod/i);
    expect(JSON.parse((await cli([...g, 'status', '--json'])).stdout).applied.map((a: { name: string }) => a.name)).toEqual(['0001_widgets']);
  });

  it('usage errors exit 2, help exits 0, every command has help', async () => {
    expect((await cli(['nonsense'])).code).toBe(2);
    expect((await cli(['up', '--no-such-option'])).code).toBe(2);
    expect((await cli(['--lock-timeout', 'soon', 'up'])).code).toBe(2);
    expect((await cli(['create'])).code).toBe(2);
    expect((await cli(['create', 'x', '--type', 'yaml'])).code).toBe(2);
    // Usage errors raised inside actions are printed too (they used to exit 2 silently).
    for (const args of [['runs'], ['seed'], ['rotate-key', '--tenant', 'etms']]) {
      expect(await cli(args)).toMatchObject({ code: 2, stdout: '', stderr: 'error: no database: pass --database-url or set DATABASE_URL.\n(run with --help for usage)\n' });
    }
    const payload = await cli(['invoke', 'status', '--stage', 'staging', '--actor', '']);
    expect(payload).toMatchObject({ code: 2, stderr: expect.stringMatching(/^error: actor: .*\n\(run with --help for usage\)\n$/) });
    expect(await cli(['--version'])).toMatchObject({ code: 0, stdout: `${packageVersion()}\n` });
    expect(packageVersion()).toMatch(/^\d+\.\d+\.\d+/);
    for (const command of ['up', 'down', 'status', 'history', 'plan', 'validate', 'repair', 'baseline', 'create', 'lint', 'dev']) {
      const r = await cli([command, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`Usage: migrator ${command}`));
      expect(r.stdout.length).toBeGreaterThan(120);
    }
  });

  it('a missing database is a one-paragraph error; --verbose adds the stack', async () => {
    const r = await cli(['--dir', fx.dir, 'status']);
    expect(r).toMatchObject({ code: 1, stderr: 'error: No database given: pass --database-url or set DATABASE_URL.\n' });
    const v = await cli(['--dir', fx.dir, '--verbose', 'status']);
    expect(v.stderr).toMatch(/at .*session\.ts/);
  });
});

describe('migrator as a process', () => {
  it('exits 0 on success, 1 on failure, 2 on usage error', async () => {
    const env = { DATABASE_URL: db.url };
    const ok = await run(['--dir', fx.dir, 'up'], env);
    expect(ok).toMatchObject({ code: 0, stdout: 'Applied 3 migration(s): 0001_widgets, 0002_gadgets, 0003_widget_color\n' });
    fx.write('0004_bad.sql', '-- Up Migration\nSELECT * FROM missing_table;\n');
    const failed = await run(['--dir', fx.dir, 'up'], env);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^error: Migration 0004_bad \(.*0004_bad\.sql\) failed: relation "missing_table" does not exist \(SQLSTATE 42P01\) while running: SELECT \* FROM missing_table;/);
    expect(failed.stderr).not.toMatch(/\n\s+at /);
    const usage = await run(['--dir', fx.dir, 'up', '--bogus'], env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/unknown option '--bogus'/);
  });
});
