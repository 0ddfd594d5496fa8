/**
 * Migration messages a user can act on: irreversible migrations, names without numbers, names that do
 * not sort the way their numbers read, statements that cannot run in a transaction, `--to` by prefix,
 * and no AWS SDK Node version warning from the seed commands.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { down, MigrationError, plan, status, up, validate } from '../../functions/core/migrate/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { ROOT, run } from '../cli/helpers.ts';
import { fixture, type Fixture } from './fixtures.ts';

let db: TestDatabase;
let fx: Fixture;
beforeEach(async () => {
  db = await createTestDatabase('msg');
});
afterEach(async () => {
  fx?.cleanup();
  await db.drop();
});

const sql = (up: string, down?: string) => `-- Up Migration\n${up}\n${down ? `-- Down Migration\n${down}\n` : ''}`;

describe('messages', () => {
  it('down of a SQL migration without a down section: a clear refusal before anything is reverted', async () => {
    fx = fixture({
      '0001_a.sql': sql('CREATE TABLE a (id int);'),
      '0002_b.sql': sql('CREATE TABLE b (id int);', 'DROP TABLE b;'),
      '0003_c.up.sql': 'CREATE TABLE c (id int);\n',
    });
    const target = { databaseUrl: db.url, dir: fx.dir };
    await up(target);
    await expect(down(target, { count: 1 })).rejects.toThrow(/Cannot revert 0003_c: .*0003_c\.up\.sql has no down migration \(it has no 0003_c\.down\.sql beside it\)\. Nothing was reverted/);
    fx.write('0003_c.down.sql', 'DROP TABLE c;\n');
    const cli = await run(['down', '--count', '3', '--dir', fx.dir, '--database-url', db.url]);
    expect(cli.code).toBe(1);
    // 0003_c's down file changed its checksum: the refusal is validation's; after repair, 0001_a stops it.
    expect(cli.stderr).toMatch(/^error: Refusing to migrate: .*0003_c\.up\.sql was edited after it was applied/);
    const repaired = await run(['repair', '--yes', '--dir', fx.dir, '--database-url', db.url]); // --yes: repair asks first otherwise
    expect(repaired).toMatchObject({ code: 0, stdout: 'checksum-updated  0003_c\n' });
    const again = await run(['down', '--count', '3', '--dir', fx.dir, '--database-url', db.url]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error: Cannot revert 0001_a: .*0001_a\.sql has no down migration \(it has no "-- Down Migration" section\)\. Nothing was reverted/);
    expect(again.stderr).not.toMatch(/User has disabled/);
    expect((await status(target)).applied.map((a) => a.name)).toEqual(['0001_a', '0002_b', '0003_c']);
  });

  it('names without a numeric prefix (Alembic revisions): one error naming them, with a naming hint', async () => {
    fx = fixture({
      'ba21208304a0_add_pgp_key_tables.sql': sql('SELECT 1;'),
      'caa8578f93f6_add_ssh_key_tables.sql': sql('SELECT 1;'),
      '20250926_162815_add_rbac.sql': sql('SELECT 1;'),
    });
    const cli = await run(['status', '--dir', fx.dir, '--database-url', db.url]);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toBe('');
    expect(cli.stderr).toBe(
      `error: 2 migration file(s) in ${fx.dir} do not start with a number: ba21208304a0_add_pgp_key_tables.sql, caa8578f93f6_add_ssh_key_tables.sql. ` +
        'Migrations run in the order of the number each name starts with (for example 0001_create_users.sql, or a 17-digit UTC timestamp as ' +
        'node-pg-migrate writes). Rename them with numbers in the order they must run (Alembic revisions: follow their down_revision chain); ' +
        '`migrator create NAME` continues a numbered folder.\n',
    );
  });

  it('names that do not sort the way their numbers read: 001b_x with 001_x refused (same number), 9_x and 10_x warned', async () => {
    fx = fixture({ '001_x.sql': sql('CREATE TABLE x (id int);'), '001b_y.sql': sql('CREATE TABLE y (id int);') });
    const target = { databaseUrl: db.url, dir: fx.dir };
    // Same number: the folder check refuses it (pending) with both names.
    expect((await validate(target)).problems).toEqual([expect.objectContaining({ kind: 'duplicate-number', message: expect.stringMatching(/001b_y.*001_x|001_x.*001b_y/) })]);
    fx.cleanup();
    fx = fixture({ '9_a.sql': sql('SELECT 1;'), '10_b.sql': sql('SELECT 1;') });
    // --quiet: no progress lines; the warning still prints, and nothing else may.
    const cli = await run(['up', '--quiet', '--dir', fx.dir, '--database-url', db.url]);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toBe('Applied 2 migration(s): 9_a, 10_b\n');
    expect(cli.stderr).toBe('warning: Migration numbers have different widths: 9_a runs before 10_b, but a plain listing shows 10_b first. Pad the numbers to one width (e.g. 0009_, 0010_) so both orders agree.\n');
    fx.cleanup();
    fx = fixture({ '0009_a.sql': sql('SELECT 1;'), '0010_b.sql': sql('SELECT 1;'), '20250101000000000_c.sql': sql('SELECT 1;') });
    expect((await plan({ databaseUrl: db.url, dir: fx.dir, migrationsTable: 'padded' })).warnings).toEqual([]);
  });

  it('CREATE INDEX CONCURRENTLY inside a transaction (25001) suggests -- migrator:no-transaction', async () => {
    fx = fixture({ '0001_t.sql': sql('CREATE TABLE t (id int);'), '0002_idx.sql': sql('CREATE INDEX CONCURRENTLY t_id ON t (id);') });
    const err = (await up({ databaseUrl: db.url, dir: fx.dir }).catch((e: unknown) => e)) as MigrationError;
    expect(err).toBeInstanceOf(MigrationError);
    expect(err.sqlstate).toBe('25001');
    expect(err.message).toContain('add a line `-- migrator:no-transaction` to the migration');
    fx.write('0002_idx.sql', `-- migrator:no-transaction\n${sql('CREATE INDEX CONCURRENTLY t_id ON t (id);')}`);
    expect((await up({ databaseUrl: db.url, dir: fx.dir })).applied).toEqual(['0002_idx']);
  });

  it('--to accepts a unique prefix of a name, and says which names an ambiguous one matches', async () => {
    fx = fixture({
      '0008_a.sql': sql('SELECT 1;', 'SELECT 1;'), '0009_b.sql': sql('SELECT 1;', 'SELECT 1;'),
      '0010_c.sql': sql('SELECT 1;', 'SELECT 1;'), '0011_d.sql': sql('SELECT 1;', 'SELECT 1;'),
    });
    const args = ['--dir', fx.dir, '--database-url', db.url];
    expect((await run(['up', '--to', '0009', ...args])).stdout).toBe('Applied 2 migration(s): 0008_a, 0009_b\n');
    const ambiguous = await run(['up', '--to', '001', ...args]);
    expect(ambiguous).toMatchObject({ code: 1, stderr: 'error: "001" matches several migrations (0010_c, 0011_d): give more of the name.\n' });
    expect((await run(['up', ...args])).code).toBe(0);
    expect((await run(['down', '--to', '0009', ...args])).stdout).toBe('Reverted 2 migration(s): 0011_d, 0010_c\n');
  });

  it('seed commands print no AWS SDK NodeVersionSupportWarning (the SDK itself would, on this Node)', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'migrator-sdkwarn-'));
    try {
      const env = { PATH: process.env.PATH!, DATABASE_URL: db.url };
      const control = spawnSync(process.execPath, ['--input-type=module', '-e',
        "const { KMSClient } = await import('@aws-sdk/client-kms'); new KMSClient({ region: 'eu-west-1' });"], { cwd: ROOT, env, encoding: 'utf8' });
      if (Number(process.versions.node.split('.')[0]) < 22) expect(control.stderr).toContain('NodeVersionSupportWarning');
      const launcher = join(ROOT, 'bin/migrator.mjs');
      expect(spawnSync(process.execPath, [launcher, 'up', '--dir', join(ROOT, 'migrations')], { cwd, env, encoding: 'utf8' }).status).toBe(0);
      // seed applies pending migrations first (README), so it needs the migrations folder too: cwd has none.
      const seeded = spawnSync(process.execPath, [launcher, 'seed', '--dir', join(ROOT, 'migrations'), '--seeds-dir', join(ROOT, 'seeds')], { cwd, env, encoding: 'utf8' });
      expect(seeded.stderr).not.toContain('NodeVersionSupportWarning');
      expect(seeded.status).toBe(0);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
