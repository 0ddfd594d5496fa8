/** `migrator dev` (npm start) against a given database: migrates, seeds; the second run changes no row but its migration_runs row. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../bin/migrator.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { startAwsStandIn, bootstrapDev, type AwsStandIn } from '../../local/aws-standin/index.ts';
import { writeCounters } from './helpers.ts';

describe('migrator dev seeds after migrating', () => {
  let db: TestDatabase;
  let standIn: AwsStandIn;
  const saved = { ...process.env };
  beforeAll(async () => {
    db = await createTestDatabase('dev');
    standIn = await startAwsStandIn();
    await bootstrapDev(standIn);
    Object.assign(process.env, standIn.clientEnv());
  });
  afterAll(async () => {
    process.env = saved;
    await standIn.stop();
    await db.drop();
  });

  const dev = async () => {
    let out = '';
    const code = await main(['node', 'migrator', 'dev', '--database-url', db.url], { out: (t) => void (out += t), err: () => {} });
    return { code, out };
  };

  it('first run: three real tenants with KMS ciphertext and hashed inbound keys; second run: nothing but the run row', async () => {
    const first = await dev();
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/Seeded: stage local/);
    const c = await db.client();
    const { rows } = await c.query(
      `SELECT t.slug, s.api_key_ciphertext IS NOT NULL AS enc, k.key_hash ~ '^[0-9a-f]{64}$' AS hashed
         FROM tenants t JOIN tenant_llm_settings s ON s.tenant_id = t.id JOIN tenant_api_keys k ON k.tenant_id = t.id ORDER BY t.slug`,
    );
    expect(rows.filter((r) => ['etms', 'efms', 'vela'].includes(r.slug))).toEqual([
      { slug: 'efms', enc: true, hashed: true },
      { slug: 'etms', enc: true, hashed: true },
      { slug: 'vela', enc: true, hashed: true },
    ]);
    const run1 = (await c.query(`SELECT seed_summary FROM migration_runs WHERE outcome = 'succeeded'`)).rows;
    expect(run1).toHaveLength(1);
    expect(run1[0].seed_summary.counts.tenants).toBeGreaterThanOrEqual(3);

    const before = await writeCounters(c);
    standIn.resetCalls();
    const second = await dev();
    expect(second.code).toBe(0);
    expect(second.out).toContain('nothing changed');
    const after = await writeCounters(c);
    const changed = Object.keys(after).filter((t) => after[t] !== before[t]);
    // Only the run's own bookkeeping row (inserted running, updated to succeeded).
    expect(changed).toEqual(['migration_runs']);
    expect(standIn.callCount('TrentService.Encrypt')).toBe(0);
    expect((await c.query(`SELECT count(*)::int AS n FROM migration_runs`)).rows[0].n).toBe(2);
  });
});
