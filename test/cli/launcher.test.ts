/**
 * The real launcher, started every way a user starts it: through a symlink (npx, node_modules/.bin),
 * `npm exec` in a consumer folder, a global install (`npm install -g --prefix`), `npx` in the repository
 * as the README types it, and `node bin/migrator.mjs`. Output and exit codes (0, 1, 2) are checked each
 * time: a launcher that silently does nothing exits 0 with empty output and fails every assertion here.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { BASIC, fixture, type Fixture } from '../engine/fixtures.ts';
import { LAUNCHER, ROOT, type CliResult } from './helpers.ts';

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Run a command to completion (never throws on a non-zero exit). DATABASE_URL is cleared unless given. */
function exec(file: string, args: string[], opts: { cwd: string; env?: Record<string, string> }): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd: opts.cwd, env: { ...process.env, DATABASE_URL: '', npm_config_yes: 'true', ...opts.env }, timeout: 180_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

let work: string;
let fx: Fixture;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'migrator-launcher-'));
  fx = fixture(BASIC);
});
afterAll(async () => {
  fx.cleanup();
  rmSync(work, { recursive: true, force: true });
});

/**
 * The same checks for every way of starting the bin: `--version` (0), `--help` (0), `up` against a real
 * database (0, migrations applied), a usage error raised inside an action (2, printed), an unknown
 * command (2), a failure (1, one paragraph).
 */
async function behavesAsTheCli(start: (args: string[], env?: Record<string, string>) => Promise<CliResult>, database: TestDatabase) {
  expect(await start(['--version'])).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
  const help = await start(['--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toMatch(/^Usage: migrator \[options\] \[command\]/);
  expect(help.stdout).toContain('--version');

  const up = await start(['--dir', fx.dir, 'up'], { DATABASE_URL: database.url });
  expect(up).toMatchObject({ code: 0, stdout: 'Applied 3 migration(s): 0001_widgets, 0002_gadgets, 0003_widget_color\n' });
  const c = await database.client();
  expect((await c.query('SELECT count(*)::int AS n FROM pgmigrations')).rows[0].n).toBe(3);

  const usage = await start(['runs']);
  expect(usage.code).toBe(2);
  expect(usage.stderr).toBe('error: no database: pass --database-url or set DATABASE_URL.\n(run with --help for usage)\n');
  const unknown = await start(['nonsense']);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toMatch(/^error: unknown command 'nonsense'/);

  const failed = await start(['--dir', fx.dir, 'status']);
  expect(failed).toMatchObject({ code: 1, stdout: '', stderr: 'error: No database given: pass --database-url or set DATABASE_URL.\n' });
}

describe('the launcher runs the program however it is started', () => {
  it('node bin/migrator.mjs', async () => {
    const d = await createTestDatabase('launch');
    try {
      await behavesAsTheCli((args, env) => exec(process.execPath, [LAUNCHER, ...args], { cwd: work, env }), d);
    } finally {
      await d.drop();
    }
  }, 300_000);

  it('through a symlink to the bin (as node_modules/.bin and npx start it)', async () => {
    const link = join(work, 'migrator-link');
    symlinkSync(LAUNCHER, link);
    const d = await createTestDatabase('launch');
    try {
      await behavesAsTheCli((args, env) => exec(link, args, { cwd: work, env }), d);
    } finally {
      await d.drop();
    }
  }, 300_000);

  it('npm exec migrator in a consumer folder that installed the package', async () => {
    const consumer = join(work, 'consumer');
    mkdirSync(consumer);
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    // A local folder installs as a link (offline, ~0.3 s): node_modules/pg-tenant-migrator -> the repository.
    const install = await exec('npm', ['install', '--offline', '--no-audit', '--no-fund', ROOT], { cwd: consumer });
    expect(install.code, install.stderr).toBe(0);
    expect(existsSync(join(consumer, 'node_modules/.bin/migrator'))).toBe(true);
    const d = await createTestDatabase('launch');
    try {
      await behavesAsTheCli((args, env) => exec('npm', ['exec', '--offline', 'migrator', '--', ...args], { cwd: consumer, env }), d);
      // The .bin symlink itself, as a package.json script would run it.
      expect(await exec(join(consumer, 'node_modules/.bin/migrator'), ['--version'], { cwd: consumer })).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
    } finally {
      await d.drop();
    }
  }, 300_000);

  it('a global install (npm install -g --prefix): `migrator` on the PATH, from any folder', async () => {
    const prefix = join(work, 'global');
    const install = await exec('npm', ['install', '-g', '--offline', '--no-audit', '--no-fund', '--prefix', prefix, ROOT], { cwd: work });
    expect(install.code, install.stderr).toBe(0);
    const elsewhere = join(work, 'elsewhere');
    mkdirSync(elsewhere);
    const PATH = `${join(prefix, 'bin')}:${process.env.PATH}`;
    const d = await createTestDatabase('launch');
    try {
      await behavesAsTheCli((args, env) => exec('migrator', args, { cwd: elsewhere, env: { PATH, ...env } }), d);
    } finally {
      await d.drop();
    }
  }, 300_000);

  it('npx migrator --help / npx migrator up in the repository, exactly as the README types them', async () => {
    const help = await exec('npx', ['migrator', '--help'], { cwd: ROOT });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: migrator \[options\] \[command\]/);
    const d = await createTestDatabase('launch');
    try {
      // The repository's own migrations/ (the default --dir), applied to a fresh database.
      const up = await exec('npx', ['migrator', 'up'], { cwd: ROOT, env: { DATABASE_URL: d.url } });
      expect(up.code, up.stderr).toBe(0);
      expect(up.stdout).toMatch(/^Applied \d+ migration\(s\): 0001_/);
      const again = await exec('npx', ['migrator', 'up'], { cwd: ROOT, env: { DATABASE_URL: d.url } });
      expect(again).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Nothing to apply: up to date/) });
      const status = await exec('npx', ['migrator', 'status', '--json'], { cwd: ROOT, env: { DATABASE_URL: d.url } });
      expect(status.code).toBe(0);
      expect(JSON.parse(status.stdout).pending).toEqual([]);
      expect((await exec('npx', ['migrator', 'runs'], { cwd: ROOT })).code).toBe(2);
    } finally {
      await d.drop();
    }
  }, 300_000);
});

describe('the CDK app entry point', () => {
  it('bin/app.ts synthesizes when started through a symlink (no argv[1] check)', async () => {
    const link = join(work, 'app-link.ts');
    symlinkSync(join(ROOT, 'bin/app.ts'), link);
    const outdir = join(work, 'cdk.out');
    const r = await exec(process.execPath, ['--import', 'tsx', link], { cwd: ROOT, env: {
      CDK_OUTDIR: outdir,
      // Skip asset bundling (esbuild, the slow part): this test is about the entry point, not the assets.
      CDK_CONTEXT_JSON: JSON.stringify({ 'aws:cdk:bundling-stacks': [] }),
    } });
    expect(r.code, r.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(outdir, 'manifest.json'), 'utf8')) as { artifacts: Record<string, unknown> };
    expect(Object.keys(manifest.artifacts)).toContain('PgTenantMigrator-staging');
  }, 300_000);
});
