/**
 * `migrator db start|url|status|stop`: a local embedded PostgreSQL that outlives the command, through the
 * real launcher, in a private (0700) project folder as `mktemp -d` makes them. `dev` reuses it; a second
 * server on the same data folder is refused.
 */
import { execFile } from 'node:child_process';
import { chmodSync, lstatSync, mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASIC, fixture, type Fixture } from '../engine/fixtures.ts';
import { startEmbeddedPostgres } from '../../local/embedded-postgres.ts';
import { LAUNCHER, type CliResult } from './helpers.ts';

let project: string;
let fx: Fixture;
beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), 'migrator-db-'));
  chmodSync(project, 0o700);
  fx = fixture(BASIC);
});
afterAll(async () => {
  await migrator(['db', 'stop']);
  const data = join(project, '.local/pg');
  if (lstatSync(data, { throwIfNoEntry: false })?.isSymbolicLink()) rmSync(readlinkSync(data), { recursive: true, force: true });
  rmSync(project, { recursive: true, force: true });
  fx.cleanup();
});

/** `migrator ...args` in the project folder, no DATABASE_URL unless given. */
function migrator(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [LAUNCHER, ...args], { cwd: project, env: { ...process.env, DATABASE_URL: '', ...env }, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout: String(stdout), stderr: String(stderr) }),
    );
  });
}

describe('migrator db', () => {
  it('start prints a DATABASE_URL every command can use; dev reuses the server; stop ends it', async () => {
    const started = await migrator(['db', 'start']);
    expect(started.code, started.stderr).toBe(0);
    expect(started.stdout).toMatch(/^postgres:\/\/postgres:postgres@127\.0\.0\.1:\d+\/postgres\n$/);
    expect(started.stderr).toMatch(/^Started embedded PostgreSQL \(pid \d+, port \d+, data in \.local\/pg\)\. Stop it with `migrator db stop`\.\n$/);
    const url = started.stdout.trim();

    // The command ended; the server did not.
    const c = new pg.Client(url);
    await c.connect();
    await c.end();
    expect(await migrator(['db', 'url'])).toMatchObject({ code: 0, stdout: `${url}\n` });
    expect(await migrator(['db', 'status'])).toMatchObject({ code: 0, stdout: expect.stringMatching(new RegExp(`^running {2}pid \\d+ {2}port \\d+ {2}${url.replace(/[.?]/g, '\\$&')}\\n$`)) });
    const again = await migrator(['db', 'start']);
    expect(again).toMatchObject({ code: 0, stdout: `${url}\n` });
    expect(again.stderr).toMatch(/^Already running: embedded PostgreSQL/);

    // Every command against it.
    expect(await migrator(['--dir', fx.dir, 'up'], { DATABASE_URL: url })).toMatchObject({ code: 0, stdout: 'Applied 3 migration(s): 0001_widgets, 0002_gadgets, 0003_widget_color\n' });
    expect(JSON.parse((await migrator(['--dir', fx.dir, 'status', '--json'], { DATABASE_URL: url })).stdout).applied).toHaveLength(3);

    // dev without DATABASE_URL uses the running server (same data folder) and leaves it running.
    const dev = await migrator(['--dir', fx.dir, 'dev', '--no-seed']);
    expect(dev.code, dev.stderr).toBe(0);
    expect(dev.stderr).toMatch(/^Using the running embedded PostgreSQL \(pid \d+, port \d+, data in \.local\/pg\)\.\n/);
    expect(dev.stdout).toMatch(/^Nothing to apply: the database is up to date \(last: 0003_widget_color\)\./);
    expect((await migrator(['db', 'status'])).code).toBe(0);

    // Never two servers on one data folder.
    await expect(startEmbeddedPostgres({ dataDir: join(project, '.local/pg') })).rejects.toThrow(/is in use by a running server \(pid \d+\); two servers never share one data folder/);

    const json = JSON.parse((await migrator(['db', 'status', '--json'])).stdout);
    expect(json).toEqual({ running: true, url, pid: expect.any(Number), port: Number(new URL(url).port), dataDir: expect.any(String) });

    expect(await migrator(['db', 'stop'])).toMatchObject({ code: 0, stdout: 'Stopped.\n' });
    expect(await migrator(['db', 'status'])).toMatchObject({ code: 1, stdout: 'stopped  (data in .local/pg)\n' });
    expect(await migrator(['db', 'url'])).toMatchObject({
      code: 1,
      stderr: 'error: No embedded PostgreSQL is running on .local/pg: start one with `migrator db start`.\n',
    });
    expect(await migrator(['db', 'stop'])).toMatchObject({ code: 0, stdout: 'Not running (data in .local/pg).\n' });

    // The data stays: a new start continues with the same cluster.
    const restarted = await migrator(['db', 'start']);
    expect(restarted.code).toBe(0);
    const status = await migrator(['--dir', fx.dir, 'status', '--json'], { DATABASE_URL: restarted.stdout.trim() });
    expect(JSON.parse(status.stdout).pending).toEqual([]);
  }, 300_000);
});
