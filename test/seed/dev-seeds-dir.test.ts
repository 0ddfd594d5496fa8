/**
 * `migrator dev --seeds-dir DIR` through the real launcher: any seeds folder (here a 0.2 folder without
 * seed.config.yaml, so the built-in model with its one-line notice, and a local stage key alias of its
 * own, which dev's stand-in creates), and errors name its files by the path the user typed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { LAUNCHER, ROOT } from '../cli/helpers.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { SEEDS } from './helpers.ts';

/** `node bin/migrator.mjs ...args` in `cwd` (the stand-in keeps its state in `cwd`/.local, not the developer's). */
function run(cwd: string, args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [LAUNCHER, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((res, rej) => {
    child.on('error', rej);
    child.on('close', (code) => res({ code: code ?? -1, stdout, stderr }));
  });
}

describe('migrator dev --seeds-dir', () => {
  let db: TestDatabase;
  let folder: string;
  beforeAll(async () => {
    db = await createTestDatabase('devdir');
    folder = mkdtempSync(join(ROOT, '.tmp-dev-seeds-'));
    cpSync(SEEDS, join(folder, 'my-seeds'), { recursive: true, filter: (s) => !s.endsWith('seed.config.yaml') });
    // The folder's local stage names its own key alias: dev's stand-in creates that one.
    const stages = join(folder, 'my-seeds/stages.yaml');
    writeFileSync(stages, readFileSync(stages, 'utf8').replace('kmsKeyId: alias/migrator-local', 'kmsKeyId: alias/my-app-local'));
  });
  afterAll(async () => {
    await db.drop();
    rmSync(folder, { recursive: true, force: true });
  });

  it('seeds from the given folder, and names a broken file by the path given', async () => {
    const given = 'my-seeds';
    const migrations = ['--dir', join(ROOT, 'migrations')];
    // No AWS in the environment: dev starts its own stand-in (state in the temp folder's .local/, via cwd).
    const env = { DATABASE_URL: db.url, AWS_ENDPOINT_URL: '', AWS_ENDPOINT_URL_KMS: '', AWS_ENDPOINT_URL_SECRETS_MANAGER: '', AWS_ACCESS_KEY_ID: '', AWS_PROFILE: '' };
    const ok = await run(folder, ['dev', ...migrations, '--seeds-dir', given, '--json'], env);
    expect({ code: ok.code, stderr: ok.code ? ok.stderr : '' }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(ok.stdout).seed.counts.tenants).toBe(5);
    const c = await db.client();
    expect((await c.query(`SELECT count(*)::int AS n FROM tenants`)).rows[0].n).toBe(5);

    writeFileSync(join(folder, 'my-seeds/tenants/vela.yaml'), 'slug: vela\nname: Vela\nregion: [1]\n');
    const bad = await run(folder, ['dev', ...migrations, '--seeds-dir', given], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain(`${given}/tenants/vela.yaml:3 region`);
    // Its stand-in created the folder's own key alias, in its own state file.
    expect(readFileSync(join(folder, '.local/aws/state.json'), 'utf8')).toContain('alias/my-app-local');
    expect(bad.stderr).toContain(`${given}/seed.config.yaml not found: using the built-in seed model`);
  }, 120_000);
});
