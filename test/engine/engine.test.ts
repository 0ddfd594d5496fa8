import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { runner } from 'node-pg-migrate';
import {
  baseline, down, history, LockWaitTimeoutError, MigrationError, plan, repair, status, up, validate, ValidationError,
} from '../../functions/core/migrate/index.ts';
import { tablesOf } from '../../functions/core/migrate/state.ts';
import { statementAt } from '../../functions/core/migrate/runner.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { BASIC, fixture, type Fixture } from './fixtures.ts';

let db: TestDatabase;
let fx: Fixture;
let c: pg.Client;
beforeEach(async () => {
  db = await createTestDatabase('eng');
  c = await db.client();
});
afterEach(async () => {
  fx?.cleanup();
  await db.drop();
});

const tables = async () =>
  (await c.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`)).rows.map((r) => r.table_name);
const applied = async (table = 'pgmigrations') =>
  (await c.query(`SELECT name FROM ${table} ORDER BY id`)).rows.map((r) => r.name);
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('up', () => {
  it('applies SQL and TypeScript migrations, records checksums and run id, and a re-run is a no-op', async () => {
    fx = fixture(BASIC);
    const target = { databaseUrl: db.url, dir: fx.dir };
    const first = await up(target, { runId: '11111111-1111-4111-8111-111111111111' });
    expect(first.applied).toEqual(['0001_widgets', '0002_gadgets', '0003_widget_color']);
    expect(first.lastMigration).toBe('0003_widget_color');
    expect(await tables()).toEqual(['gadgets', 'pgmigrations', 'pgmigrations_checksums', 'pgmigrations_lock', 'widgets']);
    const { rows } = await c.query('SELECT name, checksum, run_id, source FROM pgmigrations_checksums ORDER BY name');
    expect(rows).toEqual([
      { name: '0001_widgets', checksum: sha(`${fx.dir}/0001_widgets.sql`), run_id: '11111111-1111-4111-8111-111111111111', source: 'applied' },
      { name: '0002_gadgets', checksum: sha(`${fx.dir}/0002_gadgets.ts`), run_id: '11111111-1111-4111-8111-111111111111', source: 'applied' },
      { name: '0003_widget_color', checksum: sha(`${fx.dir}/0003_widget_color.sql`), run_id: '11111111-1111-4111-8111-111111111111', source: 'applied' },
    ]);
    const before = (await c.query('SELECT n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables ORDER BY relname')).rows;
    const second = await up(target);
    expect(second.applied).toEqual([]);
    expect(second.lastMigration).toBe('0003_widget_color');
    expect(await applied()).toEqual(['0001_widgets', '0002_gadgets', '0003_widget_color']);
    expect((await c.query('SELECT count(*)::int AS n FROM widgets')).rows[0].n).toBe(1);
    expect((await c.query('SELECT n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables ORDER BY relname')).rows).toEqual(before);
    const h = await history(target);
    expect(h.map((e) => [e.name, e.runId, e.source])).toEqual([
      ['0001_widgets', '11111111-1111-4111-8111-111111111111', 'applied'],
      ['0002_gadgets', '11111111-1111-4111-8111-111111111111', 'applied'],
      ['0003_widget_color', '11111111-1111-4111-8111-111111111111', 'applied'],
    ]);
    expect(Date.parse(h[0]!.appliedAt)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('applies up to a named migration, and refuses an unknown name', async () => {
    fx = fixture(BASIC);
    const target = { databaseUrl: db.url, dir: fx.dir };
    expect((await up(target, { to: '0002_gadgets' })).applied).toEqual(['0001_widgets', '0002_gadgets']);
    await expect(up(target, { to: '0009_nope' })).rejects.toThrow(/Unknown migration 0009_nope/);
    expect((await status(target)).pending).toEqual([{ name: '0003_widget_color' }]);
  });

  it('uses separate tables and locks per target, so several targets share one database', async () => {
    fx = fixture(BASIC);
    const other = fixture({ '0001_other.sql': '-- Up Migration\nCREATE TABLE other_thing (id int);\n' });
    try {
      await up({ databaseUrl: db.url, dir: fx.dir });
      await up({ databaseUrl: db.url, dir: other.dir, migrationsTable: 'other_migrations', migrationsSchema: 'other' });
      expect(await applied()).toHaveLength(3);
      expect(await applied('other.other_migrations')).toEqual(['0001_other']);
      expect(tablesOf({ dir: '', migrationsTable: 'a' }).lockKey).not.toBe(tablesOf({ dir: '', migrationsTable: 'b' }).lockKey);
    } finally {
      other.cleanup();
    }
  });
});

describe('validation', () => {
  beforeEach(async () => {
    fx = fixture(BASIC);
    await up({ databaseUrl: db.url, dir: fx.dir });
  });

  it('refuses an edited applied migration, naming the file, and repair accepts it', async () => {
    const target = { databaseUrl: db.url, dir: fx.dir };
    fx.write('0002_gadgets.ts', `${BASIC['0002_gadgets.ts']}\n// edited\n`);
    fx.write('0004_more.sql', '-- Up Migration\nCREATE TABLE more (id int);\n');
    const err = await up(target).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).problems).toEqual([
      expect.objectContaining({ name: '0002_gadgets', kind: 'edited', message: expect.stringContaining('0002_gadgets.ts') }),
    ]);
    expect(await tables()).not.toContain('more'); // refused before changing anything
    expect((await validate(target)).problems).toHaveLength(1);
    expect((await repair(target)).changes).toEqual([{ name: '0002_gadgets', action: 'checksum-updated' }]);
    expect((await validate(target)).problems).toEqual([]);
    expect((await up(target)).applied).toEqual(['0004_more']);
  });

  it('refuses a deleted applied migration, and repair removes its row', async () => {
    const target = { databaseUrl: db.url, dir: fx.dir };
    fx.remove('0003_widget_color.sql');
    const s = await status(target);
    expect(s.problems).toEqual([
      { name: '0003_widget_color', kind: 'deleted', message: expect.stringContaining('0003_widget_color was applied') },
    ]);
    await expect(up(target)).rejects.toThrow(/0003_widget_color.*missing/);
    await expect(down(target, { count: 1 })).rejects.toBeInstanceOf(ValidationError);
    expect((await repair(target)).changes).toEqual([{ name: '0003_widget_color', action: 'deleted-row-removed' }]);
    expect(await applied()).toEqual(['0001_widgets', '0002_gadgets']);
    expect((await status(target)).problems).toEqual([]);
  });

  it('refuses a new migration sorting before applied ones, and repair allows it', async () => {
    const target = { databaseUrl: db.url, dir: fx.dir };
    fx.write('0000_late.sql', '-- Up Migration\nCREATE TABLE late (id int);\n');
    const err = (await up(target).catch((e: unknown) => e)) as ValidationError;
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.message).toMatch(/0000_late\.sql is not applied but sorts before the already applied 0003_widget_color/);
    expect(await tables()).not.toContain('late');
    expect((await repair(target)).changes).toEqual([{ name: '0000_late', action: 'out-of-order-allowed' }]);
    expect((await up(target)).applied).toEqual(['0000_late']);
    expect((await status(target)).problems).toEqual([]);
  });
});

describe('plan', () => {
  const snapshot = async () => ({
    relations: (await c.query(`SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace ORDER BY 1`)).rows,
    classes: (await c.query('SELECT count(*)::int AS n FROM pg_class')).rows[0].n,
    writes: (await c.query('SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::int AS n FROM pg_stat_user_tables')).rows[0].n,
  });

  it('shows the exact SQL and writes nothing, not even the migrations table', async () => {
    fx = fixture(BASIC);
    const target = { databaseUrl: db.url, dir: fx.dir };
    const before = await snapshot();
    const p = await plan(target);
    expect(p.pending.map((m) => m.name)).toEqual(['0001_widgets', '0002_gadgets', '0003_widget_color']);
    expect(p.pending[0]!.sql).toContain('CREATE TABLE widgets (id serial PRIMARY KEY, name text NOT NULL);');
    expect(p.pending[1]!.sql).toContain('CREATE TABLE "gadgets"');
    expect(p.pending.every((m) => m.transaction)).toBe(true);
    expect(await snapshot()).toEqual(before);
    expect(before.relations).toEqual([]);
  });

  it('after partial apply lists only pending ones and changes nothing', async () => {
    fx = fixture(BASIC);
    const target = { databaseUrl: db.url, dir: fx.dir };
    await up(target, { to: '0001_widgets' });
    await c.query('SELECT pg_stat_clear_snapshot()');
    const before = await snapshot();
    const p = await plan(target, { to: '0002_gadgets' });
    expect(p.pending.map((m) => m.name)).toEqual(['0002_gadgets']);
    await new Promise((r) => setTimeout(r, 600)); // let statistics of any write show up
    await c.query('SELECT pg_stat_clear_snapshot()');
    expect(await snapshot()).toEqual(before);
    expect(await applied()).toEqual(['0001_widgets']);
  });
});

describe('baseline and down', () => {
  it('baseline marks migrations as applied without running them', async () => {
    fx = fixture(BASIC);
    const target = { databaseUrl: db.url, dir: fx.dir };
    expect((await baseline(target, { to: '0002_gadgets' })).marked).toEqual(['0001_widgets', '0002_gadgets']);
    expect(await tables()).toEqual(['pgmigrations', 'pgmigrations_checksums', 'pgmigrations_lock']);
    expect((await history(target)).map((h) => h.source)).toEqual(['baseline', 'baseline']);
    // Pretend the schema existed; the next up runs only the rest.
    await c.query('CREATE TABLE widgets (id serial PRIMARY KEY, name text NOT NULL)');
    expect((await up(target)).applied).toEqual(['0003_widget_color']);
  });

  it('down reverts by count and to a name', async () => {
    fx = fixture(BASIC);
    const target = { databaseUrl: db.url, dir: fx.dir };
    await up(target);
    expect((await down(target, { count: 1 })).reverted).toEqual(['0003_widget_color']);
    expect((await c.query(`SELECT count(*)::int AS n FROM information_schema.columns WHERE column_name = 'color'`)).rows[0].n).toBe(0);
    await up(target);
    const r = await down(target, { to: '0001_widgets' });
    expect(r).toEqual({ reverted: ['0003_widget_color', '0002_gadgets'], lastMigration: '0001_widgets' });
    expect(await tables()).toEqual(['pgmigrations', 'pgmigrations_checksums', 'pgmigrations_lock', 'widgets']);
    expect((await c.query('SELECT name FROM pgmigrations_checksums')).rows).toEqual([{ name: '0001_widgets' }]);
    await expect(down(target, { to: '0003_widget_color' })).rejects.toThrow(/not applied/);
  });
});

describe('failures', () => {
  it('a broken migration names file, statement and SQLSTATE and leaves no partial change', async () => {
    fx = fixture({
      ...BASIC,
      '0004_broken.sql': `-- Up Migration
CREATE TABLE half_done (id int);
INSERT INTO half_done VALUES (1);
UPDATE no_such_table SET x = 1;
CREATE TABLE never (id int);
`,
    });
    const err = (await up({ databaseUrl: db.url, dir: fx.dir }).catch((e: unknown) => e)) as MigrationError;
    expect(err).toBeInstanceOf(MigrationError);
    expect(err.file).toMatch(/0004_broken\.sql$/);
    expect(err.sqlstate).toBe('42P01');
    expect(err.statement).toBe('UPDATE no_such_table SET x = 1;');
    expect(err.pgMessage).toMatch(/relation "no_such_table" does not exist/);
    expect(err.message).toMatch(/0004_broken.*no_such_table.*SQLSTATE 42P01.*UPDATE no_such_table SET x = 1.*rolled back/);
    expect(err.details.appliedBefore).toEqual(['0001_widgets', '0002_gadgets', '0003_widget_color']);
    expect(await tables()).not.toContain('half_done');
    expect(await applied()).toEqual(['0001_widgets', '0002_gadgets', '0003_widget_color']);
    expect((await c.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)).rows[0].n).toBe(0);
  });

  it('a failing TypeScript migration names the builder statement', async () => {
    fx = fixture({
      '0001_ts_broken.ts': `export const up = (pgm) => { pgm.createTable('ok_table', { id: 'id' }); pgm.addColumn('missing', { c: 'text' }); };`,
    });
    const err = (await up({ databaseUrl: db.url, dir: fx.dir }).catch((e: unknown) => e)) as MigrationError;
    expect(err).toBeInstanceOf(MigrationError);
    expect(err.statement).toMatch(/ALTER TABLE "missing"/);
    expect(err.sqlstate).toBe('42P01');
    expect(await tables()).not.toContain('ok_table');
  });

  it('lock_timeout stops a migration waiting on a table another session holds (55P03)', async () => {
    fx = fixture({ '0001_t.sql': '-- Up Migration\nCREATE TABLE busy (id int);\n' });
    await up({ databaseUrl: db.url, dir: fx.dir });
    fx.write('0002_alter.sql', '-- Up Migration\nALTER TABLE busy ADD COLUMN x int;\n');
    const holder = await db.client();
    await holder.query('BEGIN; LOCK TABLE busy IN ACCESS SHARE MODE');
    const started = Date.now();
    const err = (await up({ databaseUrl: db.url, dir: fx.dir }, { lockTimeoutMs: 300 }).catch((e: unknown) => e)) as MigrationError;
    expect(err).toBeInstanceOf(MigrationError);
    expect(err.sqlstate).toBe('55P03');
    expect(err.message).toMatch(/0002_alter.*lock timeout.*SQLSTATE 55P03.*ALTER TABLE busy ADD COLUMN x int/);
    expect(Date.now() - started).toBeLessThan(5_000);
    await holder.query('ROLLBACK');
    expect((await up({ databaseUrl: db.url, dir: fx.dir })).applied).toEqual(['0002_alter']);
  });

  it('waits for the migration lock up to the timeout, then fails clearly', async () => {
    fx = fixture(BASIC);
    const holder = await db.client();
    await holder.query('SELECT pg_advisory_lock($1::bigint)', [tablesOf({ dir: fx.dir }).lockKey]);
    const started = Date.now();
    const err = await up({ databaseUrl: db.url, dir: fx.dir }, { lockWaitTimeoutMs: 400 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockWaitTimeoutError);
    expect((err as Error).message).toMatch(/Another migration run is holding the lock for public\.pgmigrations and did not finish within 400 ms/);
    // The message names the holder: its pid, application_name, state and last query.
    const pid = (holder as unknown as { processID: number }).processID;
    expect((err as Error).message).toMatch(new RegExp(`\\(held by pid ${pid}, application_name "", user \\w+, client .*, connected since \\S+, idle since \\S+, last query: "SELECT pg_advisory_lock\\(\\$1::bigint\\)"\\)`));
    expect((err as Error).message).toMatch(/migrator unlock --yes/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    expect(await tables()).toEqual([]);
    // A waiter gets the lock once the holder lets go.
    const waiting = up({ databaseUrl: db.url, dir: fx.dir }, { lockWaitTimeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 300));
    await holder.query('SELECT pg_advisory_unlock_all()');
    expect((await waiting).applied).toHaveLength(3);
  });
});

describe('formats', () => {
  it('runs a SQL migration outside a transaction when it says so (CREATE INDEX CONCURRENTLY)', async () => {
    fx = fixture({
      '0001_t.sql': '-- Up Migration\nCREATE TABLE things (id int);\n',
      '0002_idx.sql': '-- Up Migration\n-- migrator:no-transaction\nCREATE INDEX CONCURRENTLY things_id ON things (id);\n\n-- Down Migration\nDROP INDEX CONCURRENTLY things_id;\n',
    });
    const target = { databaseUrl: db.url, dir: fx.dir };
    expect((await plan(target)).pending.map((p) => p.transaction)).toEqual([true, false]);
    expect((await up(target)).applied).toEqual(['0001_t', '0002_idx']);
    expect((await c.query(`SELECT indisvalid FROM pg_index WHERE indexrelid = 'things_id'::regclass`)).rows[0].indisvalid).toBe(true);
    expect((await down(target, { count: 1 })).reverted).toEqual(['0002_idx']);
  });

  it('loads .js, .cjs, .mjs and .up.sql/.down.sql migrations', async () => {
    fx = fixture({
      '0001_a.js': `export async function up(pgm) { pgm.createTable('a', { id: 'id' }); }\nexport async function down(pgm) { pgm.dropTable('a'); }\n`,
      '0002_b.cjs': `exports.up = (pgm) => { pgm.createTable('b', { id: 'id' }); };\n`,
      '0003_c.mjs': `export const up = (pgm) => { pgm.sql('CREATE TABLE c (id int)'); };\n`,
      '0004_d.up.sql': 'CREATE TABLE d (id int);\n',
      '0004_d.down.sql': 'DROP TABLE d;\n',
      'README.md': 'not a migration',
    });
    const target = { databaseUrl: db.url, dir: fx.dir };
    expect((await up(target)).applied).toEqual(['0001_a', '0002_b', '0003_c', '0004_d']);
    expect(await tables()).toEqual(['a', 'b', 'c', 'd', 'pgmigrations', 'pgmigrations_checksums', 'pgmigrations_lock']);
    expect((await down(target, { count: 1 })).reverted).toEqual(['0004_d']);
    expect(await tables()).not.toContain('d');
  });

  it('imports .compiled/X.mjs for X.ts when present and checksums the .ts source', async () => {
    fx = fixture({
      '0001_compiled.ts': `export const up = (pgm: any) => { pgm.sql('CREATE TABLE from_ts (id int)'); };\n`,
      '.compiled/0001_compiled.mjs': `export const up = (pgm) => { pgm.sql('CREATE TABLE from_compiled (id int)'); };\n`,
    });
    const target = { databaseUrl: db.url, dir: fx.dir };
    expect((await up(target)).applied).toEqual(['0001_compiled']);
    expect(await tables()).toContain('from_compiled');
    expect(await tables()).not.toContain('from_ts');
    expect((await status(target)).applied[0]!.checksum).toBe(sha(`${fx.dir}/0001_compiled.ts`));
  });

  it('adopts a database migrated by node-pg-migrate itself: records checksums, then detects edits', async () => {
    fx = fixture(BASIC);
    await runner({ databaseUrl: db.url, dir: fx.dir, migrationsTable: 'pgmigrations', direction: 'up', log: () => {}, singleTransaction: true });
    const target = { databaseUrl: db.url, dir: fx.dir };
    const s = await status(target);
    expect(s.applied.map((a) => a.checksum)).toEqual([null, null, null]);
    expect(s.problems).toEqual([]);
    fx.write('0004_next.sql', '-- Up Migration\nCREATE TABLE next (id int);\n');
    expect((await up(target)).applied).toEqual(['0004_next']);
    expect((await history(target)).map((h) => h.source)).toEqual(['adopted', 'adopted', 'adopted', 'applied']);
    fx.write('0001_widgets.sql', `${BASIC['0001_widgets.sql']}-- changed\n`);
    expect((await validate(target)).problems.map((p) => p.kind)).toEqual(['edited']);
  });
});

describe('statementAt', () => {
  it('cuts the failing statement out of a multi-statement SQL text', () => {
    const sql = '-- Up Migration\nCREATE TABLE a (id int);\nSELECT broken FROM nowhere;\nCREATE TABLE b (id int);';
    expect(statementAt(sql, String(sql.indexOf('nowhere') + 1))).toBe('SELECT broken FROM nowhere;');
    expect(statementAt('ALTER TABLE x ADD y int', undefined)).toBe('ALTER TABLE x ADD y int');
  });
});
