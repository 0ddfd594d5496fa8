/**
 * Compatibility of the seed model with the seeder it replaces: a database seeded by the code before it
 * (commit c4b4dd1, its functions/ tree extracted with `git archive` into a folder inside the repository
 * so its imports resolve to this node_modules) and then by this code gets 0 writes, 0 KMS Encrypt calls
 * and no regenerated key, both with the 0.2 seeds folder as it was (no seed.config.yaml: the built-in
 * model) and with this repository's seeds/ (its seed.config.yaml).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seed } from '../../functions/core/seed/index.ts';
import { ROOT, SEEDS, seedEnv, snapshot, writeCounters, type SeedEnv } from './helpers.ts';

/** The last commit before the seed model (issue 12). */
const BEFORE = 'c4b4dd1';

let old: string;
let oldSeeds: string;
let env: SeedEnv;

beforeAll(async () => {
  old = mkdtempSync(join(ROOT, '.tmp-seed-before-'));
  oldSeeds = mkdtempSync(join(tmpdir(), 'seeds-before-'));
  try {
    execFileSync('sh', ['-c', `git -C "${ROOT}" archive ${BEFORE} functions seeds | tar -x -C "${old}"`]);
  } catch (e) {
    throw new Error(`This test needs commit ${BEFORE} in the git history (a full clone): ${(e as Error).message}`);
  }
  cpSync(join(old, 'seeds'), oldSeeds, { recursive: true });
  env = await seedEnv();
}, 120_000);

afterAll(async () => {
  await env?.close();
  if (old) rmSync(old, { recursive: true, force: true });
  if (oldSeeds) rmSync(oldSeeds, { recursive: true, force: true });
});

describe('a database seeded by the code before the seed model', () => {
  it('is left as it is by this code: no row written, no Encrypt, no key regenerated', async () => {
    const { client, aws, standIn } = env;
    const before = (await import(join(old, 'functions/core/seed/index.ts'))) as { seed: typeof seed };
    // Really the old seeder (its advisory seed lock), not this one.
    expect((await import(join(old, 'functions/core/seed/apply.ts'))).SEED_LOCK).toEqual([0x5eed, 1]);
    const first = await before.seed(client, { stage: 'local', dir: oldSeeds, aws });
    expect(first.tables.tenants!.inserted).toBe(5);
    // The counters below do count: the old run encrypted LLM keys and created the tenants' key secrets.
    expect(standIn.callCount('TrentService.Encrypt')).toBe(5);
    expect(standIn.callCount('secretsmanager.CreateSecret')).toBeGreaterThan(0);
    const rows = await snapshot(client);
    const counters = await writeCounters(client);

    for (const [dir, notice] of [
      [oldSeeds, true],
      [SEEDS, false],
    ] as const) {
      standIn.resetCalls();
      const lines: string[] = [];
      const s = await seed(client, { stage: 'local', dir, aws, notice: (l) => lines.push(l) });
      expect({ dir, rowsWritten: s.rowsWritten, changes: s.changes }).toEqual({ dir, rowsWritten: 0, changes: [] });
      expect(s.keys).toEqual({ encrypted: 0, unchanged: 5, inboundCreated: 0 });
      expect(s.counts).toEqual(first.counts);
      expect(standIn.callCount('TrentService.Encrypt')).toBe(0);
      expect(standIn.callCount('secretsmanager.GetSecretValue')).toBe(0);
      expect(standIn.callCount('secretsmanager.CreateSecret')).toBe(0);
      expect(standIn.callCount('secretsmanager.PutSecretValue')).toBe(0);
      // The 0.2 folder runs on the built-in model, saying so in one line.
      expect(lines.filter((l) => l.includes('built-in seed model'))).toHaveLength(notice ? 1 : 0);
    }
    // Every row as the old code left it (keys, hashes, ciphertexts, versions, timestamps).
    const after = await snapshot(client);
    for (const t of Object.keys(rows).filter((t) => t !== 'migrator_seed_lock')) expect({ t, rows: after[t] }).toEqual({ t, rows: rows[t] });
    // No write at all outside the seed lock table (created, with its one row, by the first new run).
    const now = await writeCounters(client);
    expect(Object.keys(now).filter((t) => now[t] !== (counters[t] ?? 0))).toEqual(['migrator_seed_lock']);
  }, 120_000);
});
