/**
 * Upgrade path, database side: a database migrated and seeded by the code before the engine owned its run
 * history (main at 584d1e7, extracted with `git archive` and run through its own CLI) is then run by this
 * code. It adopts the existing migration_runs table (rows kept, columns added), keeps every tenant key
 * (no KMS Encrypt, no secret written, key rows identical) and writes no seed row: the only table whose
 * write counters move is the run history.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapDev, startAwsStandIn, type AwsStandIn } from '../../local/aws-standin/index.ts';
import { ROOT } from '../cli/helpers.ts';
import { snapshot, writeCounters } from '../seed/helpers.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

/** The commit the template fixture was generated from: the last main before these changes. */
const BEFORE = '584d1e7';

let old: string;
let db: TestDatabase;
let c: pg.Client;
let standIn: AwsStandIn;

function cli(launcher: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [launcher, ...args], {
    // The old checkout's migrations/ and seeds/ (unchanged by the upgrade, as a user's own folders are).
    cwd: old,
    env: { ...process.env, ...standIn.clientEnv(), DATABASE_URL: db.url, MIGRATOR_ACTOR: 'upgrade-test', MIGRATOR_SEED_CACHE: 'off' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((res, rej) => {
    child.on('error', rej);
    child.on('close', (code) => res({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  old = mkdtempSync(join(tmpdir(), 'migrator-before-'));
  try {
    execFileSync('sh', ['-c', `git -C "${ROOT}" archive ${BEFORE} | tar -x -C "${old}"`]);
  } catch (e) {
    throw new Error(`The upgrade test needs commit ${BEFORE} in the git history (a full clone): ${(e as Error).message}`);
  }
  symlinkSync(join(ROOT, 'node_modules'), join(old, 'node_modules'));
  db = await createTestDatabase('upgrade');
  c = await db.client();
  standIn = await startAwsStandIn();
  await bootstrapDev(standIn);
}, 120_000);

afterAll(async () => {
  await standIn?.stop();
  await db?.drop();
  if (old) rmSync(old, { recursive: true, force: true });
});

const keyRows = async () => {
  const s = await snapshot(c);
  return { keys: s.tenant_api_keys, llm: s.tenant_llm_settings, tenants: s.tenants, users: s.users };
};

describe('upgrade from the code before the engine owned its run history', () => {
  it('adopts migration_runs, keeps every tenant key and writes no seed row', async () => {
    const before = await cli(join(old, 'bin/migrator.mjs'), ['dev']);
    expect({ code: before.code, stderr: before.code ? before.stderr : '' }).toEqual({ code: 0, stderr: '' });
    expect(before.stdout).toMatch(/Seeded: stage local/);
    // The 0.1.0 table: no backend columns yet.
    const columns = async () => (await c.query(`SELECT attname FROM pg_attribute WHERE attrelid = 'public.migration_runs'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY 1`)).rows.map((r) => r.attname);
    expect(await columns()).not.toContain('backend_pid');
    const [oldRun] = (await c.query('SELECT id, outcome, command FROM migration_runs')).rows;
    expect(oldRun).toMatchObject({ outcome: 'succeeded', command: 'dev' });

    // The counters below do count: the first run created the tenants' key secrets and encrypted their LLM keys.
    expect(standIn.callCount('secretsmanager.CreateSecret')).toBeGreaterThan(0);
    expect(standIn.callCount('TrentService.Encrypt')).toBeGreaterThan(0);
    const keys = await keyRows();
    const counters = await writeCounters(c);
    standIn.resetCalls();
    const after = await cli(join(ROOT, 'bin/migrator.mjs'), ['dev']);
    expect({ code: after.code, stderr: after.code ? after.stderr : '' }).toEqual({ code: 0, stderr: '' });
    expect(after.stdout).toContain('Nothing to apply');
    expect(after.stdout).toContain('nothing changed');

    // No key regenerated: no KMS Encrypt, no secret created or written, key rows as they were.
    expect(standIn.callCount('TrentService.Encrypt')).toBe(0);
    expect(standIn.callCount('secretsmanager.CreateSecret')).toBe(0);
    expect(standIn.callCount('secretsmanager.PutSecretValue')).toBe(0);
    expect(await keyRows()).toEqual(keys);
    // No seed row written: only the run history's counters moved (and, on the first run after the upgrade,
    // the migration lock table's one row is created, and the seed lock table's).
    const now = await writeCounters(c);
    expect(Object.keys(now).filter((t) => now[t] !== counters[t]).sort()).toEqual(expect.arrayContaining(['migration_runs']));
    // The seed lock table is new too (created with its one row by the first seed of this code: issue 7 item 12).
    expect(counters.migrator_seed_lock).toBeUndefined();
    expect(Object.keys(now).filter((t) => now[t] !== counters[t] && t !== 'migration_runs' && t !== 'migrator_seed_lock')).toEqual(Object.keys(now).includes('pgmigrations_lock') && now.pgmigrations_lock !== counters.pgmigrations_lock ? ['pgmigrations_lock'] : []);

    // The table was adopted: its row kept, the new columns there, the new run recorded with its backend.
    expect(await columns()).toEqual(expect.arrayContaining(['backend_pid', 'backend_start', 'content_hash', 'deploy_nonce', 'details']));
    const runs = JSON.parse((await cli(join(ROOT, 'bin/migrator.mjs'), ['runs', '--json'])).stdout);
    expect(runs.map((r: { id: string; outcome: string }) => [r.id, r.outcome])).toEqual([
      [expect.any(String), 'succeeded'],
      [oldRun.id, 'succeeded'],
    ]);
    const { rows: [fresh] } = await c.query('SELECT backend_pid, backend_start FROM migration_runs WHERE id = $1', [runs[0].id]);
    expect(fresh.backend_pid).toBeTypeOf('number');
    expect(fresh.backend_start).toBeInstanceOf(Date);
  }, 180_000);
});
