import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testDatabase } from '../support/db.ts';
import { BASIC, RUNS, testFixture } from '../engine/fixtures.ts';
import { run } from './helpers.ts';

describe('migrator dev', () => {
  it('with DATABASE_URL: migrates, records a local run, reports; a second run has nothing to apply', async () => {
    const db = await testDatabase('dev');
    const fx = testFixture({ '0000_runs.sql': RUNS, ...BASIC });
    const first = await run(['--dir', fx.dir, 'dev', '--no-seed'], { DATABASE_URL: db.url });
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^Applied 4 migration\(s\): 0000_runs, 0001_widgets, 0002_gadgets, 0003_widget_color\n/);
    expect(first.stdout).toMatch(/Rows per table:\n(.*\n)*  widgets +1\n/);
    expect(first.stdout).toMatch(/Run [0-9a-f-]{36} finished in \d+\.\d s\.\n$/);
    const second = await run(['--dir', fx.dir, 'dev', '--no-seed'], { DATABASE_URL: db.url });
    expect(second.stdout).toMatch(/^Nothing to apply: the database is up to date \(last: 0003_widget_color\)\.\n/);
    expect(second.stdout).toMatch(/migration_runs +2\n/);
    const c = await db.client();
    const { rows } = await c.query('SELECT trigger, stage, command, outcome, migrations_applied FROM migration_runs ORDER BY started_at');
    expect(rows).toEqual([
      { trigger: 'local', stage: 'local', command: 'dev', outcome: 'succeeded', migrations_applied: ['0000_runs', '0001_widgets', '0002_gadgets', '0003_widget_color'] },
      { trigger: 'local', stage: 'local', command: 'dev', outcome: 'succeeded', migrations_applied: [] },
    ]);
  });

  it('without DATABASE_URL: starts an embedded PostgreSQL whose data persists between runs', async () => {
    const fx = testFixture(BASIC);
    const parent = mkdtempSync(join(tmpdir(), 'migrator-dev-'));
    chmodSync(parent, 0o755); // as root, PostgreSQL runs as the postgres user and must reach the folder
    const dataDir = join(parent, 'pg');
    try {
      const first = await run(['--dir', fx.dir, 'dev', '--no-seed', '--data-dir', dataDir]);
      expect(first.code).toBe(0);
      expect(first.stderr).toContain(`Starting embedded PostgreSQL (data in ${dataDir})`);
      expect(first.stdout).toMatch(/^Applied 3 migration\(s\)/);
      const second = await run(['--dir', fx.dir, 'dev', '--no-seed', '--data-dir', dataDir]);
      expect(second.code).toBe(0);
      expect(second.stdout).toMatch(/^Nothing to apply: the database is up to date \(last: 0003_widget_color\)\./);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});
