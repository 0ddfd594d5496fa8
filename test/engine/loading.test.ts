/**
 * Loading parity with node-pg-migrate 9: every format it loads, whatever the nearest package.json's
 * "type" says, loaded by the engine in-process, by the real CLI launcher, and by a plain `node` process
 * with no TypeScript loader (tsx) registered. Fixtures: test/engine/fixtures/formats/ (see its README).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { runner } from 'node-pg-migrate';
import { down, history, up } from '../../functions/core/migrate/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { ROOT, run } from '../cli/helpers.ts';

const FORMATS = resolve(import.meta.dirname, 'fixtures/formats');
const CJS_PKG = join(FORMATS, 'commonjs-package/migrations');
const ESM_PKG = join(FORMATS, 'module-package/migrations');

const CJS_NAMES = [
  '1700000000001_template-esm', '1700000000002_typescript', '1700000000003_commonjs',
  '1700000000004_module', '1700000000005_plain', '1700000000006_concurrent-index',
];
const ESM_NAMES = ['0001_legacy-commonjs', '0002_uses-shorthand', '0003_commonjs-ts', '0004_module-ts', '0005_pair'];

let dbs: TestDatabase[] = [];
beforeEach(() => {
  dbs = [];
});
afterEach(async () => {
  await Promise.all(dbs.map((d) => d.drop()));
});
async function database(): Promise<TestDatabase> {
  const d = await createTestDatabase('load');
  dbs.push(d);
  return d;
}

/** What a migration folder made of a database: columns, indexes (with validity) and views. */
async function schemaOf(url: string) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const columns = await c.query(
      `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name NOT LIKE 'pgmigrations%' ORDER BY 1, 2`,
    );
    const indexes = await c.query(
      `SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relnamespace = 'public'::regnamespace AND c.relname NOT LIKE 'pgmigrations%' ORDER BY 1`,
    );
    const views = await c.query(`SELECT table_name FROM information_schema.views WHERE table_schema = 'public' ORDER BY 1`);
    return { columns: columns.rows, indexes: indexes.rows, views: views.rows };
  } finally {
    await c.end();
  }
}

/** node-pg-migrate's own runner (its default loaders; the 'sql' loader so .up.sql/.down.sql pair as ours do). */
async function withNodePgMigrate(url: string, dir: string) {
  return runner({
    databaseUrl: url,
    dir,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    migrationLoaderStrategies: [{ extensions: ['.sql'], loader: 'sql' }],
    log: () => {},
    logger: { debug() {}, info() {}, warn() {}, error() {} },
  } as never);
}

describe('loading parity with node-pg-migrate 9', () => {
  it('applies a folder under a package without "type": ESM .js (create template), .ts, .cjs, .mjs, plain .sql, noTransaction + CONCURRENTLY', async () => {
    const ours = await database();
    const theirs = await database();
    expect((await up({ databaseUrl: ours.url, dir: CJS_PKG })).applied).toEqual(CJS_NAMES);
    expect((await withNodePgMigrate(theirs.url, CJS_PKG)).map((m) => m.name)).toEqual(CJS_NAMES);
    const schema = await schemaOf(ours.url);
    expect(schema).toEqual(await schemaOf(theirs.url));
    expect(schema.indexes).toContainEqual({ relname: 'audit_events_account_idx', indisvalid: true });
    expect(schema.columns.map((r) => `${r.table_name}.${r.column_name}`)).toEqual(expect.arrayContaining([
      'accounts.plan', 'invoices.total_cents', 'audit_events.happened_at',
    ]));
    expect((await history({ databaseUrl: ours.url, dir: CJS_PKG })).map((h) => h.source)).toEqual(CJS_NAMES.map(() => 'applied'));
  });

  it('applies a folder under a "type": "module" package: CommonJS exports.up/exports.shorthands in .js, .ts using them, .cts, .mts, .up.sql/.down.sql', async () => {
    const ours = await database();
    const theirs = await database();
    expect((await up({ databaseUrl: ours.url, dir: ESM_PKG })).applied).toEqual(ESM_NAMES);
    expect((await withNodePgMigrate(theirs.url, ESM_PKG)).map((m) => m.name)).toEqual(ESM_NAMES);
    const schema = await schemaOf(ours.url);
    expect(schema).toEqual(await schemaOf(theirs.url));
    // The shorthand from the CommonJS file reached the TypeScript migration.
    expect(schema.columns).toContainEqual(expect.objectContaining({ table_name: 'projects', column_name: 'tenant', data_type: 'uuid', is_nullable: 'NO' }));
    expect(schema.views).toEqual([{ table_name: 'active_projects' }]);
    // Down runs through the same loader (the .down.sql of the pair).
    expect((await down({ databaseUrl: ours.url, dir: ESM_PKG }, { count: 1 })).reverted).toEqual(['0005_pair']);
  });

  it('the CLI launcher loads both folders (it used to fail: "Cannot require() ES Module ... in a cycle", "exports is not defined")', async () => {
    const d = await database();
    // --quiet: no per-migration progress lines, so any stderr is a loading error or warning.
    const a = await run(['up', '--quiet', '--dir', CJS_PKG, '--database-url', d.url]);
    expect(a.stderr).toBe('');
    expect(a).toMatchObject({ code: 0, stdout: `Applied 6 migration(s): ${CJS_NAMES.join(', ')}\n` });
    const b = await run(['up', '--dir', ESM_PKG, '--database-url', d.url, '--migrations-table', 'esm_migrations']);
    expect(b).toMatchObject({ code: 0, stdout: `Applied 5 migration(s): ${ESM_NAMES.join(', ')}\n` });
  });

  it('loads every format in a plain node process with no TypeScript loader registered (compiled engine)', async () => {
    // The engine compiled to one ESM file, its dependencies left to node_modules: what a built package runs.
    const outDir = join(ROOT, 'node_modules/.cache/migrator-loading-test');
    mkdirSync(outDir, { recursive: true });
    const entry = join(outDir, 'engine.mjs');
    await build({
      entryPoints: [join(ROOT, 'functions/core/migrate/index.ts')],
      outfile: entry, bundle: true, platform: 'node', format: 'esm', packages: 'external', logLevel: 'error',
    });
    const d = await database();
    const script = `
      // Proof that no TypeScript loader is registered: Node itself cannot import a .ts file here.
      const native = await import(${JSON.stringify(join(CJS_PKG, '1700000000002_typescript.ts'))}).then(() => 'loaded', (e) => e.code);
      if (native !== 'ERR_UNKNOWN_FILE_EXTENSION') throw new Error('a TypeScript loader is registered: ' + native);
      const { up } = await import(${JSON.stringify(entry)});
      const a = await up({ databaseUrl: process.env.URL, dir: ${JSON.stringify(CJS_PKG)} });
      const b = await up({ databaseUrl: process.env.URL, dir: ${JSON.stringify(ESM_PKG)}, migrationsTable: 'esm_migrations' });
      console.log(JSON.stringify([...a.applied, ...b.applied]));`;
    try {
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: FORMATS, env: { PATH: process.env.PATH, URL: d.url }, encoding: 'utf8',
      });
      expect(child.stderr).not.toMatch(/Error/);
      expect(child.status).toBe(0);
      expect(JSON.parse(child.stdout)).toEqual([...CJS_NAMES, ...ESM_NAMES]);
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
  });
});
