/**
 * `repair` and `baseline` change the migration history: they list the changes and need --yes, or a "y"
 * at an interactive prompt when stdin is a terminal (a real pseudo-terminal here, through `script`).
 * Without either they write nothing and exit 1. Through the real launcher.
 */
import { execFile } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { BASIC, fixture, type Fixture } from '../engine/fixtures.ts';
import { LAUNCHER, ROOT, run, type CliResult } from './helpers.ts';

let db: TestDatabase;
let fx: Fixture;
beforeEach(async () => {
  db = await createTestDatabase('confirm');
  fx = fixture(BASIC);
});
afterEach(async () => {
  fx.cleanup();
  await db.drop();
});

/** Runs the launcher on a pseudo-terminal (util-linux `script`), typing `answer` at the prompt. */
function onTerminal(args: string[], answer: string): Promise<CliResult> {
  const command = [process.execPath, LAUNCHER, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve) => {
    const child = execFile('script', ['-qec', command, '/dev/null'], { cwd: ROOT, env: { ...process.env, DATABASE_URL: db.url }, timeout: 180_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout: String(stdout), stderr: String(stderr) }),
    );
    child.stdin!.end(`${answer}\n`);
  });
}

const names = async () => (await (await db.client()).query('SELECT name FROM pgmigrations ORDER BY id')).rows.map((r) => r.name);

describe('repair asks before changing the history', () => {
  it('without --yes and no terminal: lists the changes, writes nothing, exit 1; --yes applies them', async () => {
    const env = { DATABASE_URL: db.url };
    expect((await run(['--dir', fx.dir, 'up'], env)).code).toBe(0);
    fx.remove('0003_widget_color.sql');
    const refused = await run(['--dir', fx.dir, 'repair'], env);
    expect(refused).toEqual({
      code: 1,
      stdout: 'repair would make 1 change(s) (nothing written yet):\n  deleted-row-removed  0003_widget_color  (forget a migration whose file is gone; its schema changes stay)\n',
      stderr: 'error: Nothing was changed: `migrator repair` changes the migration history, so it asks first; this is not a terminal. Check the 1 change(s) above, then run it again with --yes.\n',
    });
    expect(await names()).toEqual(['0001_widgets', '0002_gadgets', '0003_widget_color']);
    expect(await run(['--dir', fx.dir, 'repair', '--yes'], env)).toMatchObject({ code: 0, stdout: 'deleted-row-removed  0003_widget_color\n' });
    expect(await names()).toEqual(['0001_widgets', '0002_gadgets']);
    expect(await run(['--dir', fx.dir, 'repair'], env)).toMatchObject({ code: 0, stdout: 'Nothing to repair.\n' });
  }, 300_000);

  it('on a terminal: asks; "n" writes nothing (exit 1), "y" applies', async () => {
    expect((await run(['--dir', fx.dir, 'up'], { DATABASE_URL: db.url })).code).toBe(0);
    fx.write('0001_widgets.sql', `${BASIC['0001_widgets.sql']}-- edited\n`);
    const no = await onTerminal(['--dir', fx.dir, 'repair'], 'n');
    expect(no.code).toBe(1);
    expect(no.stdout).toContain('checksum-updated  0001_widgets  (accept the edited file\'s current checksum)');
    expect(no.stdout).toContain('Apply these 1 change(s)? [y/N]');
    expect(no.stdout).toContain('error: Nothing was changed: the 1 change(s) above were declined.');
    expect((await run(['--dir', fx.dir, 'validate'], { DATABASE_URL: db.url })).code).toBe(1); // still refused
    const yes = await onTerminal(['--dir', fx.dir, 'repair'], 'y');
    expect(yes.code, yes.stdout).toBe(0);
    expect(yes.stdout).toMatch(/checksum-updated {2}0001_widgets\r?\n/);
    expect((await run(['--dir', fx.dir, 'validate'], { DATABASE_URL: db.url })).code).toBe(0);
  }, 300_000);
});

describe('baseline asks before marking migrations applied', () => {
  it('without --yes: lists what it would mark, marks nothing, exit 1; a terminal "y" or --yes marks', async () => {
    const env = { DATABASE_URL: db.url };
    const refused = await run(['--dir', fx.dir, 'baseline', '--to', '0002_gadgets'], env);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe(
      'baseline would make 2 change(s) (nothing written yet):\n' +
        '  mark-applied  0001_widgets  (recorded as applied; its SQL is not run)\n' +
        '  mark-applied  0002_gadgets  (recorded as applied; its SQL is not run)\n',
    );
    expect(refused.stderr).toMatch(/^error: Nothing was changed: `migrator baseline` .* run it again with --yes\.\n$/);
    // Nothing written at all: not even the migrations table was created.
    const c = await db.client();
    expect((await c.query(`SELECT to_regclass('pgmigrations') IS NULL AS none`)).rows[0].none).toBe(true);

    const yes = await onTerminal(['--dir', fx.dir, 'baseline', '--to', '0001_widgets'], 'y');
    expect(yes.code, yes.stdout).toBe(0);
    expect(yes.stdout).toContain('Marked as applied: 0001_widgets');
    expect(await run(['--dir', fx.dir, 'baseline', '--to', '0002_gadgets', '--yes'], env)).toMatchObject({ code: 0, stdout: 'Marked as applied: 0002_gadgets\n' });
    expect(await names()).toEqual(['0001_widgets', '0002_gadgets']);
  }, 300_000);
});
