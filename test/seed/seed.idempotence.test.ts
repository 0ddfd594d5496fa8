import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { seed } from '../../functions/core/seed/index.ts';
import { seedEnv, writeCounters, type SeedEnv } from './helpers.ts';

const SEEDED = ['tenants', 'users', 'llm_models', 'agents', 'tools', 'agent_tools', 'tenant_agents', 'tenant_llm_settings', 'tenant_api_keys', 'audit_log'];

describe('seed: idempotence and the report', () => {
  let env: SeedEnv;
  beforeEach(async () => {
    env = await seedEnv();
  });
  afterEach(async () => {
    await env.close();
  });

  it('seeds the stage, then a second run writes no row and makes no KMS call', async () => {
    const { client, aws, standIn, seedsDir } = env;
    const first = await seed(client, { stage: 'local', dir: seedsDir, aws });
    expect(first.counts.tenants).toBe(5);
    expect(first.tables.tenants!.inserted).toBe(5);
    expect(first.tables.users!.inserted).toBe(13);
    expect(first.counts.llm_models).toBe(3);
    expect(first.counts.agents).toBe(4);
    expect(first.counts.tools).toBe(5);
    expect(first.counts.agent_tools).toBe(5);
    expect(first.keys.encrypted).toBe(5);
    expect(first.keys.inboundCreated).toBe(5);
    expect(standIn.callCount('TrentService.Encrypt')).toBe(5);
    const stored = await client.query(
      `SELECT count(*)::int AS n FROM tenant_llm_settings WHERE api_key_ciphertext IS NOT NULL AND api_key_kms_key_arn LIKE 'arn:aws:kms:%' AND api_key_secret_version IS NOT NULL`,
    );
    expect(stored.rows[0].n).toBe(5);
    const hashes = await client.query(`SELECT prefix, key_hash, status FROM tenant_api_keys ORDER BY prefix`);
    expect(hashes.rows).toHaveLength(5);
    for (const r of hashes.rows) {
      expect(r.key_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(r.prefix).toMatch(/^tk_[a-z0-9-]+_[0-9a-f]{8}$/);
      expect(r.status).toBe('active');
    }

    const before = await writeCounters(client);
    // The counters really see the first run's writes (so "unchanged" below is not vacuous).
    expect(before.tenants).toBeGreaterThanOrEqual(5);
    expect(before.users).toBeGreaterThanOrEqual(13);
    standIn.resetCalls();
    const second = await seed(client, { stage: 'local', dir: seedsDir, aws });
    const after = await writeCounters(client);
    for (const t of SEEDED) expect({ t, n: after[t] }).toEqual({ t, n: before[t] });
    expect(second.rowsWritten).toBe(0);
    expect(second.changes).toEqual([]);
    expect(second.tables.users).toEqual({ inserted: 0, updated: 0, unchanged: 13, deleted: 0 });
    expect(second.keys).toEqual({ encrypted: 0, unchanged: 5, inboundCreated: 0 });
    expect(standIn.callCount('TrentService.Encrypt')).toBe(0);
    expect(Object.keys(standIn.calls).filter((t) => t.startsWith('TrentService.') && (standIn.calls[t] ?? 0) > 0)).toEqual([]);
    expect(standIn.callCount('secretsmanager.GetSecretValue')).toBe(0);
    expect(standIn.callCount('secretsmanager.CreateSecret')).toBe(0);
    expect(second.counts).toEqual(first.counts);
  });

  it('provider-secret versions are read per named secret (DescribeSecret), never by listing; a re-run encrypts nothing', async () => {
    const { client, aws, standIn, seedsDir } = env;
    // 60 tenants with a secret each under one prefix: the old code switched to ListSecrets from 50.
    const slugs = Array.from({ length: 60 }, (_, i) => `many-${String(i).padStart(2, '0')}`);
    for (const slug of slugs) {
      await aws.secrets.send(new CreateSecretCommand({ Name: `migrator/local/llm/many/${slug}`, SecretString: JSON.stringify({ apiKey: `fake-${slug}-NOT-REAL` }) }));
      writeFileSync(
        join(seedsDir, 'tenants', `${slug}.yaml`),
        `slug: ${slug}\nname: Many ${slug}\ninboundApiKey: false\nllm:\n  - model: gemini-2.5-flash\n    apiKeySecret: migrator/{stage}/llm/many/${slug}\n`,
      );
    }
    standIn.resetCalls();
    const first = await seed(client, { stage: 'local', dir: seedsDir, aws });
    expect(first.keys.encrypted).toBe(65);
    expect(standIn.callCount('secretsmanager.ListSecrets')).toBe(0);
    // One DescribeSecret per distinct provider secret (60 + the repository's 2), plus the inbound-key ones.
    expect(standIn.callCount('secretsmanager.DescribeSecret')).toBeGreaterThanOrEqual(62);

    const before = await writeCounters(client);
    standIn.resetCalls();
    const second = await seed(client, { stage: 'local', dir: seedsDir, aws });
    expect(second.rowsWritten).toBe(0);
    expect(second.keys).toEqual({ encrypted: 0, unchanged: 65, inboundCreated: 0 });
    expect(standIn.callCount('TrentService.Encrypt')).toBe(0);
    expect(standIn.callCount('secretsmanager.ListSecrets')).toBe(0);
    expect(standIn.callCount('secretsmanager.DescribeSecret')).toBe(62);
    const after = await writeCounters(client);
    for (const t of SEEDED) expect({ t, n: after[t] }).toEqual({ t, n: before[t] });
  });
});
