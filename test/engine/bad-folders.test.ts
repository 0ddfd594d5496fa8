/**
 * Bad migration folders are refused before anything runs (issue 7 items 2, 3, 4, 6, 7, 10; issue 8 item 3).
 *
 * Each kind below is one row: `up`, `validate` and `plan` (or the command named) exit 1 through the real
 * launcher with one paragraph naming the file and the reason, and the database is exactly as before
 * (fingerprint: every table outside the system schemas with its row count; on a fresh database that
 * means not even the migrations table). A few rows go through the engine API instead.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { runner } from 'node-pg-migrate';
import { plan, up, validate } from '../../functions/core/migrate/index.ts';
import { repair } from '../../functions/core/migrate/engine.ts';
import { eachTestDatabase, type TestDatabase } from '../support/db.ts';
import { run, ROOT } from '../cli/helpers.ts';
import { testFixture, type Fixture } from './fixtures.ts';

let db: TestDatabase;
let fx: Fixture;
let c: pg.Client;
eachTestDatabase('badf', (d, client) => ((db = d), (c = client)));
beforeEach(() => {
  fx = testFixture();
});

/** Every table outside the system schemas with its row count. */
async function fingerprint(): Promise<string[]> {
  const { rows } = await c.query<{ t: string }>(
    `SELECT format('%I.%I', table_schema, table_name) AS t FROM information_schema.tables
      WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
  );
  const out: string[] = [];
  for (const { t } of rows) out.push(`${t}=${(await c.query(`SELECT count(*)::int AS n FROM ${t}`)).rows[0].n}`);
  return out;
}

const TENANTS = '-- Up Migration\nCREATE TABLE tenants (id int PRIMARY KEY);\nINSERT INTO tenants VALUES (1);\n\n-- Down Migration\nDROP TABLE tenants;\n';

type Command = 'up' | 'validate' | 'plan' | 'repair';
interface Case {
  /** The kind of bad input (what the suite counts). */
  kind: string;
  /** Apply these first (a database that already has history), then add `bad`. */
  applied?: Record<string, string>;
  /** Files to add (name -> content), or a function that makes them in `dir`. */
  bad: Record<string, string> | ((dir: string) => void);
  /** Folder argument instead of the fixture's (missing folder, empty folder). */
  dir?: (fxDir: string) => string;
  commands?: Command[];
  error: RegExp;
  /** Must not appear in the output (content of a file outside the folder). */
  never?: RegExp;
}

const CASES: Case[] = [
  {
    kind: 'SQL file with a Down section and no Up section (would run DROP TABLE on up)',
    applied: { '0001_tenants.sql': TENANTS },
    bad: { '0002_oops.sql': '-- Down Migration\nDROP TABLE tenants CASCADE;\n' },
    error: /0002_oops\.sql has a "-- Down Migration" section and no "-- Up Migration" section/,
  },
  {
    kind: '.up.sql file holding a Down section',
    applied: { '0001_tenants.sql': TENANTS },
    bad: { '0002_oops.up.sql': 'CREATE TABLE t2 (id int);\n-- Down Migration\nDROP TABLE tenants CASCADE;\n' },
    error: /0002_oops\.up\.sql has a "-- Down Migration" section.*0002_oops\.down\.sql/,
  },
  {
    kind: 'COMMIT at the top level of a transactional migration',
    applied: { '0001_tenants.sql': TENANTS },
    bad: { '0002_commit.sql': '-- Up Migration\nCREATE TABLE half (id int);\nCOMMIT;\nCREATE TABLE half (id int);\n' },
    error: /0002_commit\.sql:3: "COMMIT;?": COMMIT at the top level of a migration that runs in a transaction/,
  },
  {
    kind: 'BEGIN / START TRANSACTION at the top level',
    bad: { '0001_begin.sql': '-- Up Migration\nSTART TRANSACTION;\nCREATE TABLE x (id int);\n' },
    error: /0001_begin\.sql:2: "START TRANSACTION;?": START TRANSACTION at the top level/,
  },
  {
    kind: 'END (COMMIT) and ROLLBACK at the top level',
    bad: { '0001_end.sql': 'CREATE TABLE x (id int);\n\n  /* done */ END;\nROLLBACK;\n' },
    error: /0001_end\.sql:3: "END;?": COMMIT at the top level/,
  },
  {
    kind: 'SAVEPOINT at the top level',
    bad: { '0001_sp.sql': '-- Up Migration\nCREATE TABLE x (id int);\nSAVEPOINT before_y;\n' },
    error: /0001_sp\.sql:3: .*SAVEPOINT at the top level/,
  },
  {
    kind: 'COMMIT outside a block in a no-transaction migration',
    bad: { '0001_notx.sql': '-- Up Migration\n-- migrator:no-transaction\nCREATE TABLE x (id int);\nCOMMIT;\n' },
    error: /0001_notx\.sql:4: "COMMIT;?": COMMIT outside a BEGIN \.\.\. COMMIT block/,
  },
  {
    kind: 'PREPARE TRANSACTION in a no-transaction migration',
    bad: { '0001_2pc.sql': "-- migrator:no-transaction\nBEGIN;\nCREATE TABLE x (id int);\nPREPARE TRANSACTION 'x';\n" },
    error: /0001_2pc\.sql:4: .*PREPARE TRANSACTION \(two-phase commit\)/,
  },
  {
    kind: 'BEGIN never closed in a no-transaction migration',
    bad: { '0001_open.sql': '-- migrator:no-transaction\nBEGIN;\nCREATE TABLE x (id int);\n' },
    error: /0001_open\.sql:2: "BEGIN;?": BEGIN without a matching COMMIT/,
  },
  {
    kind: 'TypeScript migration whose rendered SQL has COMMIT',
    bad: { '0001_ts.ts': "export async function up(pgm) { pgm.sql('CREATE TABLE x (id int)'); pgm.sql('COMMIT'); }\n" },
    error: /0001_ts\.ts \(in the SQL it renders\): "COMMIT": COMMIT at the top level/,
  },
  {
    kind: 'migration that is not UTF-8 (Latin-1 literal)',
    bad: (dir) => writeFileSync(join(dir, '0001_latin1.sql'), Buffer.concat([
      Buffer.from("-- Up Migration\nCREATE TABLE x (name text);\nINSERT INTO x VALUES ('caf"), Buffer.from([0xe9]), Buffer.from("');\n"),
    ])),
    error: /0001_latin1\.sql:3: is not valid UTF-8/,
  },
  {
    kind: 'migration that is a symlink out of the folder (/etc/passwd)',
    bad: (dir) => symlinkSync('/etc/passwd', join(dir, '0001_passwd.sql')),
    error: /0001_passwd\.sql: is a symbolic link to a file outside its folder/,
    never: /root:|nologin|\/bin\/(ba)?sh/,
  },
  {
    kind: 'migration that is a special file (named pipe)',
    bad: (dir) => execFileSync('mkfifo', [join(dir, '0001_fifo.sql')]),
    error: /0001_fifo\.sql: is not a regular file \(a named pipe\)/,
  },
  {
    kind: 'two pending migrations with the same number',
    bad: { '0001_a.sql': 'CREATE TABLE a (id int);\n', '0001_b.sql': 'CREATE TABLE b (id int);\n' },
    error: /0001_a\.sql, .*0001_b\.sql share the number 0001.*Give .*0001_b\.sql the next free number/,
  },
  {
    kind: 'pending migration with the number of an applied one',
    applied: { '0001_tenants.sql': TENANTS },
    bad: { '001_again.sql': 'CREATE TABLE again (id int);\n' },
    error: /0001_tenants\.sql share the number 001 = 0001.*Give .*001_again\.sql the next free number/,
  },
  {
    kind: 'empty migration file',
    applied: { '0001_tenants.sql': TENANTS },
    bad: { '0002_empty.sql': '' },
    error: /0002_empty\.sql has no SQL statement to run \(it is empty or only comments\)/,
  },
  {
    kind: 'comment-only migration',
    bad: { '0001_todo.sql': '-- Up Migration\n-- TODO: add the plan column\n/* later */\n\n-- Down Migration\n' },
    error: /0001_todo\.sql has no SQL statement to run/,
  },
  {
    kind: 'migration named .SQL (skipped by the loader)',
    applied: { '0001_tenants.sql': TENANTS },
    bad: { '0002_upper.SQL': 'DROP TABLE tenants;\n' },
    error: /0002_upper\.SQL looks like a migration but would be skipped.*Rename it to 0002_upper\.sql/,
  },
  {
    kind: 'migration named .sql.txt (skipped by the loader)',
    bad: { '0001_init.sql.txt': 'CREATE TABLE x (id int);\n', '0002_next.Ts': 'export const up = () => {};\n' },
    error: /0001_init\.sql\.txt looks like a migration but would be skipped.*0002_next\.Ts looks like a migration/,
  },
  {
    kind: 'missing migrations folder (--dir typo), fresh database',
    bad: {},
    dir: (d) => `${d}-typo`,
    commands: ['up', 'validate', 'plan', 'repair'],
    error: /Migrations folder .*migrations-typo does not exist/,
  },
  {
    kind: 'existing but empty migrations folder, fresh database',
    bad: {},
    error: /No migrations found in .*migrations .*holds no \.sql, \.ts or \.js migration files/,
  },
  {
    kind: 'repair with an empty migrations folder (would delete every record)',
    applied: { '0001_tenants.sql': TENANTS },
    bad: (dir) => rmSync(join(dir, '0001_tenants.sql')),
    commands: ['repair'],
    error: /Refusing to repair: no migrations found in .*would remove the record of every applied migration/,
  },
  {
    kind: 'TypeScript migration that throws at import',
    applied: { '0001_tenants.sql': TENANTS },
    bad: { '0002_broken.ts': "throw new Error('config missing');\nexport const up = () => {};\n" },
    error: /Migration .*0002_broken\.ts failed to load: config missing/,
  },
];

describe('bad migration folders: refused through the CLI with nothing written', () => {
  it('covers the kinds listed (the count the suite reports)', () => {
    expect(new Set(CASES.map((k) => k.kind)).size).toBe(CASES.length);
    expect(CASES.length).toBe(23);
  });

  it.each(CASES.map((k) => [k.kind, k] as const))('%s', async (_kind, k) => {
    if (k.applied) {
      for (const [name, content] of Object.entries(k.applied)) fx.write(name, content);
      await up({ databaseUrl: db.url, dir: fx.dir });
    }
    if (typeof k.bad === 'function') k.bad(fx.dir);
    else for (const [name, content] of Object.entries(k.bad)) fx.write(name, content);
    const before = await fingerprint();
    if (!k.applied) expect(before).toEqual([]); // a fresh database: a refusal must not even create the migrations table
    const dir = k.dir ? k.dir(fx.dir) : fx.dir;
    const commands = k.commands ?? ['up', 'validate', 'plan'];
    const results = await Promise.all(commands.map((cmd) => run(['--database-url', db.url, '--dir', dir, cmd])));
    for (const [i, r] of results.entries()) {
      const what = `${commands[i]}: ${r.stderr}`;
      expect(r.code, what).toBe(1);
      expect(r.stdout, what).toBe('');
      expect(r.stderr, what).toMatch(new RegExp(`^error: [^\\n]*${k.error.source}[^\\n]*\\n$`));
      if (commands[i] === 'up') expect(r.stderr).not.toMatch(/problem\(s\) found/);
      if (commands[i] === 'validate' || commands[i] === 'plan') expect(r.stderr).not.toMatch(/Refusing to migrate/);
      if (k.never) expect(r.stderr + r.stdout).not.toMatch(k.never);
    }
    expect(await fingerprint()).toEqual(before);
  });

  it('a Down-only file leaves the tenants table in place (issue 7 item 2)', async () => {
    fx.write('0001_tenants.sql', TENANTS);
    await up({ databaseUrl: db.url, dir: fx.dir });
    fx.write('0002_oops.sql', '-- Down Migration\nDROP TABLE tenants CASCADE;\n');
    for (const cmd of ['up', 'plan', 'validate']) {
      expect((await run(['--database-url', db.url, '--dir', fx.dir, cmd])).code).toBe(1);
    }
    expect((await c.query('SELECT count(*)::int AS n FROM tenants')).rows[0].n).toBe(1);
  });
});

describe('the engine API refuses the same way', () => {
  it('up, plan and validate report the problem kinds; nothing is created', async () => {
    fx.write('0001_a.sql', '-- Up Migration\nCREATE TABLE a (id int);\nCOMMIT;\n');
    fx.write('0002_b.sql', '-- Down Migration\nDROP TABLE a;\n');
    fx.write('0003_c.sql', '-- nothing yet\n');
    const target = { databaseUrl: db.url, dir: fx.dir };
    const { problems } = await validate(target);
    expect(problems.map((p) => [p.name, p.kind])).toEqual([
      ['0002_b', 'down-only'], ['0001_a', 'transaction-control'], ['0003_c', 'empty'],
    ]);
    await expect(up(target)).rejects.toMatchObject({ name: 'ValidationError', command: 'up', problems: expect.any(Array) });
    await expect(plan(target)).rejects.toThrow(/^3 problem\(s\) found in the migrations folder/);
    expect(await fingerprint()).toEqual([]);
  });

  it('repair refuses a missing folder naming it', async () => {
    await expect(repair({ databaseUrl: db.url, dir: join(fx.dir, 'nope') })).rejects.toThrow(/Migrations folder .*nope does not exist/);
    expect(await fingerprint()).toEqual([]);
  });

  it('a module that throws at import is named by up before anything is written', async () => {
    fx.write('0001_ok.sql', 'CREATE TABLE ok (id int);\n');
    fx.write('0002_throws.ts', "throw new TypeError('boom at import');\n");
    await expect(up({ databaseUrl: db.url, dir: fx.dir })).rejects.toThrow(/Migration .*0002_throws\.ts failed to load: boom at import/);
    expect(await fingerprint()).toEqual([]);
  });
});

describe('the parser loads lazily', () => {
  /** In a fresh process: `up` then `validate`; whether libpg-query was loaded. */
  const parserLoaded = (dir: string) => {
    const code =
      `const { up, validate } = await import(${JSON.stringify(join(ROOT, 'functions/core/migrate/engine.ts'))});\n` +
      `const target = { databaseUrl: process.env.DB_URL, dir: process.env.DIR };\n` +
      `const r = await up(target); await validate(target);\n` +
      `const { createRequire } = await import('node:module');\n` +
      `const cache = Object.keys(createRequire(${JSON.stringify(`${ROOT}/`)}).cache);\n` +
      `console.log(JSON.stringify({ applied: r.applied, parser: cache.some((k) => k.includes('libpg-query')) }));\n`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: ROOT, encoding: 'utf8', env: { ...process.env, DB_URL: db.url, DIR: dir },
    });
    return JSON.parse(out.trim().split('\n').at(-1)!) as { applied: string[]; parser: boolean };
  };

  it('is imported when a pending migration could hold transaction control, not for plain DDL nor by a run with nothing to apply', () => {
    fx.write('0001_a.sql', '-- Up Migration\nCREATE TABLE a (id int);\n');
    expect(parserLoaded(fx.dir)).toEqual({ applied: ['0001_a'], parser: false });
    fx.write('0002_b.sql', '-- Up Migration\nDO $$ BEGIN PERFORM 1; END $$;\n');
    expect(parserLoaded(fx.dir)).toEqual({ applied: ['0002_b'], parser: true });
    expect(parserLoaded(fx.dir)).toEqual({ applied: [], parser: false });
  });
});

describe('what passes', () => {
  it("the project's own migrations (0008 has BEGIN inside a DO block) validate and apply", async () => {
    const target = { databaseUrl: db.url, dir: join(ROOT, 'migrations') };
    expect(await validate(target)).toEqual({ problems: [], warnings: [] });
    expect((await up(target)).applied.length).toBe(readdirSync(target.dir).filter((f) => /^\d+_.*\.(sql|ts)$/.test(f)).length);
  });

  it('a no-transaction migration may group statements in balanced BEGIN ... COMMIT blocks', async () => {
    fx.write('0001_blocks.sql', '-- Up Migration\n-- migrator:no-transaction\nBEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\nSTART TRANSACTION;\nCREATE TABLE b (id int);\nSAVEPOINT s;\nEND;\n');
    const r = await run(['--database-url', db.url, '--dir', fx.dir, 'up']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^applied 0001_blocks \(\d+ ms\)\n$/); // the progress line only: no warning, no error
    // The successful run is recorded in the run history the engine creates.
    expect(await fingerprint()).toEqual(['public.a=0', 'public.b=0', 'public.migration_runs=1', 'public.pgmigrations=1', 'public.pgmigrations_checksums=1', 'public.pgmigrations_lock=1']);
  });

  it('an adopted history with the same problems only warns (stderr, warnings list) and is never blocked', async () => {
    // Applied by node-pg-migrate itself, which accepts all of these.
    fx.write('0001_a.sql', '-- Up Migration\nCREATE TABLE a (id int);\n');
    fx.write('0001_b.sql', '-- Up Migration\nCREATE TABLE b (id int);\n');
    fx.write('0002_empty.sql', '-- nothing\n');
    writeFileSync(join(fx.dir, '0002a_latin1.sql'), Buffer.concat([Buffer.from("CREATE TABLE l (v text DEFAULT 'caf"), Buffer.from([0xe9]), Buffer.from("');\n")]));
    await runner({ databaseUrl: db.url, dir: fx.dir, direction: 'up', migrationsTable: 'pgmigrations', logger: { debug() {}, info() {}, warn() {}, error() {} }, singleTransaction: false });
    fx.write('0001_a.sql.bak', 'old copy\n');
    fx.write('0003_next.sql', 'CREATE TABLE c (id int);\n');
    const v = await run(['--database-url', db.url, '--dir', fx.dir, 'validate']);
    expect(v.code).toBe(0);
    expect(v.stderr).toMatch(/^warning: .*0001_a\.sql, .*0001_b\.sql share the number 0001\. \(Already applied/m);
    expect(v.stderr).toMatch(/^warning: .*0001_a\.sql\.bak looks like a migration/m);
    expect(v.stderr).toMatch(/^warning: .*0002a_latin1\.sql:1: is not valid UTF-8/m);
    const r = await run(['--database-url', db.url, '--dir', fx.dir, 'up']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('Applied 1 migration(s): 0003_next\n');
    const lines = r.stderr.split('\n').filter(Boolean);
    expect(lines.filter((l) => !l.startsWith('warning: ')), r.stderr).toEqual([expect.stringMatching(/^applied 0003_next \(\d+ ms\)$/)]);
    expect(lines.filter((l) => l.startsWith('warning: ')).length).toBe(4); // each warning once
    const api = await up({ databaseUrl: db.url, dir: fx.dir });
    expect(api.warnings?.map((w) => w.kind).sort()).toEqual(['duplicate-number', 'duplicate-number', 'not-utf8', 'skipped-file']);
  });
});
