/**
 * `migrator dev --seeds-dir seeds` in a copy of the ITL-like fixture, as a developer of that project types it:
 * no AWS configured, so dev starts the KMS / Secrets Manager stand-in itself (state in the project's .local/),
 * with the key the fixture's local stage names (alias/itl-local, not ours). The ITL seeds reference the
 * provider secret names the stand-in's dev bootstrap creates (migrator/local/llm/google, .../openrouter).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { ITL, copyFixture } from './foreign/fixtures.ts';
import { LAUNCHER, type CliRun } from './foreign/cli.ts';

describe('migrator dev --seeds-dir on the ITL-like fixture', () => {
  let work: string;
  let dir: string;
  let db: TestDatabase;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'fixture-dev-'));
    dir = copyFixture(ITL, work);
    db = await createTestDatabase('fxdev');
  });
  afterAll(async () => {
    await db?.drop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const dev = () =>
    new Promise<CliRun>((res, rej) => {
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
      const child = spawn(process.execPath, [LAUNCHER, 'dev', '--seeds-dir', 'seeds', '--json', '--database-url', db.url], {
        cwd: dir,
        env: { ...env, DATABASE_URL: '', MIGRATOR_STAGE: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', rej);
      child.on('close', (code) => res({ code: code ?? -1, stdout, stderr }));
    });

  it('migrates the fixture and seeds it with the stage key it names; a second dev writes no seed row', async () => {
    const first = await dev();
    expect(first.code, first.stderr).toBe(0);
    const report = JSON.parse(first.stdout);
    expect(report.applied.map((m: { name: string }) => m.name)).toEqual(['20251111000001_config_tables', '20251111000002_tenants']);
    expect(report.seed.counts).toEqual(ITL.counts);
    const c = await db.client();
    const { rows } = await c.query(`SELECT count(*)::int AS n FROM tenant_llm_configs WHERE api_key_kms_key_id LIKE 'arn:aws:kms:%'`);
    expect(rows[0].n).toBe(3);

    const second = await dev();
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout).seed).toMatchObject({ rowsWritten: 0, counts: ITL.counts });
  });
});
