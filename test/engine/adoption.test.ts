/**
 * Adopting databases node-pg-migrate migrated, in every naming it writes: its CLI (legacy SQL loader,
 * `N_x.up.sql` recorded as `N_x.up`) and its programmatic runner with the 'sql' loader (`N_x`). After
 * adoption and after `repair`, `status` and `history` show when each migration ran (`run_on`).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { runner } from 'node-pg-migrate';
import { eachTestDatabase, type TestDatabase } from '../support/db.ts';
import { ROOT, run } from '../cli/helpers.ts';
import { testFixture, type Fixture } from './fixtures.ts';

const FILES: Record<string, string> = {
  '0001_accounts.up.sql': 'CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL);\n',
  '0002_plans.sql': '-- Up Migration\nALTER TABLE accounts ADD COLUMN plan text;\n-- Down Migration\nALTER TABLE accounts DROP COLUMN plan;\n',
  '0003_invoices.js': "export const up = (pgm) => { pgm.createTable('invoices', { id: 'id', account_id: { type: 'integer', references: 'accounts' } }); };\nexport const down = (pgm) => { pgm.dropTable('invoices'); };\n",
};
const NAMES = ['0001_accounts', '0002_plans', '0003_invoices'];

let db: TestDatabase;
let fx: Fixture;
let c: pg.Client;
eachTestDatabase('adopt', (d, client) => ((db = d), (c = client)));
beforeEach(() => {
  fx = testFixture(FILES);
});

/** The CLI on the fixture; --quiet: no per-migration progress lines, so stderr is empty unless something went wrong. */
const migrator = async (...args: string[]) => {
  const r = await run([...args, '--quiet', '--dir', fx.dir, '--database-url', db.url]);
  expect(r.stderr).toBe('');
  return r;
};
/** Pretend the migrations ran long ago, one day apart, so adoption time and run time differ. */
const backdate = () => c.query(`UPDATE pgmigrations SET run_on = timestamp '2021-03-01 08:00:00' + (id || ' days')::interval`);
/** run_on as the migrator reports it (ISO 8601), by migration name, read straight from the table. */
const runOn = async () =>
  Object.fromEntries((await c.query('SELECT name, run_on::timestamptz AS t FROM pgmigrations')).rows.map((r) => [r.name, (r.t as Date).toISOString()]));

describe('adopting node-pg-migrate histories', () => {
  it("its CLI's history (N_x.up rows): status shows all applied with their run times, up adopts and applies the rest, history keeps the times", async () => {
    const cli = spawnSync(process.execPath, [join(ROOT, 'node_modules/node-pg-migrate/bin/node-pg-migrate.js'), 'up', '-m', fx.dir], {
      cwd: join(fx.dir, '..'), env: { PATH: process.env.PATH, DATABASE_URL: db.url }, encoding: 'utf8',
    });
    expect(cli.status).toBe(0);
    expect((await c.query('SELECT name FROM pgmigrations ORDER BY id')).rows.map((r) => r.name))
      .toEqual(['0001_accounts.up', '0002_plans', '0003_invoices']);
    await backdate();
    const ran = await runOn();

    const status = JSON.parse((await migrator('status', '--json')).stdout);
    expect(status.problems).toEqual([]);
    expect(status.pending).toEqual([]);
    expect(status.applied.map((a: { name: string; appliedAt: string }) => [a.name, a.appliedAt])).toEqual([
      ['0001_accounts', ran['0001_accounts.up']], ['0002_plans', ran['0002_plans']], ['0003_invoices', ran['0003_invoices']],
    ]);

    fx.write('0004_refunds.sql', '-- Up Migration\nCREATE TABLE refunds (id int);\n');
    expect((await migrator('up')).stdout).toBe('Applied 1 migration(s): 0004_refunds\n');
    expect((await c.query('SELECT name FROM pgmigrations ORDER BY id')).rows.map((r) => r.name)).toEqual([...NAMES, '0004_refunds']);

    const history = JSON.parse((await migrator('history', '--json')).stdout);
    expect(history.map((h: { name: string; source: string }) => [h.name, h.source])).toEqual([
      ['0001_accounts', 'adopted'], ['0002_plans', 'adopted'], ['0003_invoices', 'adopted'], ['0004_refunds', 'applied'],
    ]);
    expect(history.slice(0, 3).map((h: { appliedAt: string }) => h.appliedAt)).toEqual([ran['0001_accounts.up'], ran['0002_plans'], ran['0003_invoices']]);
    expect((await migrator('validate')).code).toBe(0);
  });

  it('its programmatic runner (N_x rows): adopted by repair as well, times kept', async () => {
    await runner({
      databaseUrl: db.url, dir: fx.dir, direction: 'up', migrationsTable: 'pgmigrations',
      migrationLoaderStrategies: [{ extensions: ['.sql'], loader: 'sql' }], log: () => {},
    } as never);
    await backdate();
    const ran = await runOn();
    expect(Object.keys(ran).sort()).toEqual(NAMES);
    // An edited file: repair accepts it and adopts the rest; the run times stay.
    fx.write('0002_plans.sql', `${FILES['0002_plans.sql']}-- reviewed\n`);
    await migrator('up'); // adopts (checksums of the files as they are now)
    fx.write('0003_invoices.js', `${FILES['0003_invoices.js']}// reviewed\n`);
    expect((await run(['status', '--dir', fx.dir, '--database-url', db.url])).code).toBe(1);
    expect((await migrator('repair', '--yes')).stdout).toBe('checksum-updated  0003_invoices\n');
    const history = JSON.parse((await migrator('history', '--json')).stdout);
    expect(history.map((h: { name: string; source: string; appliedAt: string }) => [h.name, h.source, h.appliedAt])).toEqual([
      ['0001_accounts', 'adopted', ran['0001_accounts']], ['0002_plans', 'adopted', ran['0002_plans']], ['0003_invoices', 'repair', ran['0003_invoices']],
    ]);
    const status = JSON.parse((await migrator('status', '--json')).stdout);
    expect(status.applied.map((a: { appliedAt: string }) => a.appliedAt)).toEqual(NAMES.map((n) => ran[n]));
  });
});
