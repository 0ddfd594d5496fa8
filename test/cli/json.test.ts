/**
 * `--json` on every command (one documented shape each, stdout holding only that document) and the
 * progress lines: one per migration on stderr with its time, with stdout and stderr pipes (as in CI),
 * none with --quiet. Through the real launcher.
 */
import { existsSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { BASIC, fixture, type Fixture } from '../engine/fixtures.ts';
import { JSON_SHAPES } from '../../bin/commands/migrate.ts';
import { cli, run } from './helpers.ts';

let db: TestDatabase;
let fx: Fixture;
let env: Record<string, string>;
let g: string[];
beforeEach(async () => {
  db = await createTestDatabase('json');
  fx = fixture(BASIC);
  env = { DATABASE_URL: db.url };
  g = ['--dir', fx.dir];
});
afterEach(async () => {
  fx.cleanup();
  await db.drop();
});

const duration = { name: expect.any(String), durationMs: expect.any(Number) };

describe('--json and progress lines', () => {
  it('up and down: the applied/reverted migrations with durations; one stderr line per migration; --quiet silences them', async () => {
    const up = await run([...g, 'up', '--to', '0002_gadgets', '--json'], env);
    expect(up.code, up.stderr).toBe(0);
    const doc = JSON.parse(up.stdout);
    expect(Object.keys(doc)).toEqual(['applied', 'lastMigration', 'runId', 'warnings']);
    expect(doc).toEqual({ applied: [duration, duration], lastMigration: '0002_gadgets', runId: expect.stringMatching(/^[0-9a-f-]{36}$/), warnings: [] });
    expect(doc.applied.map((a: { name: string }) => a.name)).toEqual(['0001_widgets', '0002_gadgets']);
    for (const a of doc.applied) expect(a.durationMs).toBeGreaterThanOrEqual(0);
    expect(up.stderr).toBe(`applied 0001_widgets (${doc.applied[0].durationMs} ms)\napplied 0002_gadgets (${doc.applied[1].durationMs} ms)\n`);

    const quiet = await run([...g, '--quiet', 'up'], env);
    expect(quiet).toEqual({ code: 0, stdout: 'Applied 1 migration(s): 0003_widget_color\n', stderr: '' });

    const down = await run([...g, 'down', '--count', '2', '--json'], env);
    expect(down.code, down.stderr).toBe(0);
    const d = JSON.parse(down.stdout);
    expect(d).toEqual({ reverted: [duration, duration], lastMigration: '0001_widgets' });
    expect(d.reverted.map((r: { name: string }) => r.name)).toEqual(['0003_widget_color', '0002_gadgets']);
    expect(down.stderr).toMatch(/^reverted 0003_widget_color \(\d+ ms\)\nreverted 0002_gadgets \(\d+ ms\)\n$/);

    const none = await run([...g, 'up', '--to', '0001_widgets', '--json'], env);
    expect(JSON.parse(none.stdout)).toMatchObject({ applied: [], lastMigration: '0001_widgets' });
    expect(none.stderr).toBe('');
  }, 300_000);

  it('validate --json: ok and problems; exit 1 when there are problems, the document still on stdout', async () => {
    expect((await run([...g, '-q', 'up'], env)).code).toBe(0);
    const ok = await run([...g, 'validate', '--json'], env);
    expect(ok).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(ok.stdout)).toEqual({ ok: true, problems: [], warnings: [] });
    fx.write('0001_widgets.sql', `${BASIC['0001_widgets.sql']}-- edited\n`);
    const bad = await run([...g, 'validate', '--json'], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('');
    expect(JSON.parse(bad.stdout)).toEqual({ ok: false, problems: [{ name: '0001_widgets', kind: 'edited', message: expect.stringContaining('0001_widgets.sql') }], warnings: [] });
  }, 300_000);

  it('repair and baseline --json: the changes and whether they were written (not without --yes)', async () => {
    const plan = await run([...g, 'baseline', '--to', '0001_widgets', '--json'], env);
    expect(plan.code).toBe(1);
    expect(JSON.parse(plan.stdout)).toEqual({ marked: ['0001_widgets'], written: false });
    expect(plan.stderr).toMatch(/^baseline would make 1 change\(s\) \(nothing written yet\):\n {2}mark-applied {2}0001_widgets .*\nerror: Nothing was changed/);
    const marked = await run([...g, 'baseline', '--to', '0001_widgets', '--json', '--yes'], env);
    expect(marked).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(marked.stdout)).toEqual({ marked: ['0001_widgets'], written: true });

    const c = await db.client();
    await c.query('CREATE TABLE widgets (id serial PRIMARY KEY, name text NOT NULL)');
    expect((await run([...g, '-q', 'up'], env)).code).toBe(0);
    fx.remove('0003_widget_color.sql');
    const refused = await run([...g, 'repair', '--json'], env);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toEqual({ changes: [{ name: '0003_widget_color', action: 'deleted-row-removed' }], written: false });
    const done = await run([...g, 'repair', '--json', '--yes'], env);
    expect(done.code).toBe(0);
    expect(JSON.parse(done.stdout)).toEqual({ changes: [{ name: '0003_widget_color', action: 'deleted-row-removed' }], written: true });
    const nothing = await run([...g, 'repair', '--json'], env);
    expect(nothing).toMatchObject({ code: 0 });
    expect(JSON.parse(nothing.stdout)).toEqual({ changes: [], written: false });
  }, 300_000);

  it('create --json names the new file; dev --json reports the run', async () => {
    const created = await run([...g, 'create', 'add_plan', '--json']);
    expect(created.code, created.stderr).toBe(0);
    const { file } = JSON.parse(created.stdout);
    expect(file).toMatch(/0004_add_plan\.sql$/);
    expect(existsSync(file)).toBe(true);
    fx.remove('0004_add_plan.sql');

    const dev = await run([...g, 'dev', '--no-seed', '--json'], env);
    expect(dev.code, dev.stderr).toBe(0);
    const doc = JSON.parse(dev.stdout);
    expect(Object.keys(doc)).toEqual(['runId', 'applied', 'lastMigration', 'seed', 'rowCounts', 'durationMs']);
    expect(doc).toMatchObject({ applied: [duration, duration, duration], lastMigration: '0003_widget_color', seed: null, rowCounts: { widgets: 1 } });
    expect(dev.stderr).toMatch(/^applied 0001_widgets \(\d+ ms\)\napplied 0002_gadgets \(\d+ ms\)\napplied 0003_widget_color \(\d+ ms\)\n$/);
  }, 300_000);

  it('every migration command documents its --json shape in --help', async () => {
    for (const command of Object.keys(JSON_SHAPES) as (keyof typeof JSON_SHAPES)[]) {
      const help = await cli([command, '--help']); // help text: in-process is the same program
      expect(help.stdout.replace(/\s+/g, ' ')).toContain(`--json print ${JSON_SHAPES[command]}`);
    }
  }, 300_000);
});
