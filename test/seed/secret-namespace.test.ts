/**
 * Tenant API-key secrets of two databases of one stage: the second database, seeded with its own secret
 * namespace, stores its keys under its own names and leaves the first database's keys as they are
 * (real PostgreSQL, the KMS / Secrets Manager stand-in).
 */
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { up } from '../../functions/core/migrate/engine.ts';
import { seed } from '../../functions/core/seed/seed.ts';
import { main } from '../../bin/migrator.ts';
import { hashApiKey } from '../../functions/core/seed/api-keys.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { seedEnv, type SeedEnv } from './helpers.ts';
import { fileURLToPath } from 'node:url';

const MIGRATIONS = fileURLToPath(new URL('../../migrations', import.meta.url));
let env: SeedEnv;
let second: TestDatabase;

beforeAll(async () => {
  env = await seedEnv();
  second = await createTestDatabase('seedns');
  await up({ databaseUrl: second.url, dir: MIGRATIONS });
}, 60_000);
afterAll(async () => {
  await second?.drop();
  await env?.close();
});

describe('tenant API-key secret names per database', () => {
  it('a namespaced database gets its own secrets; the first keeps its names and its keys', async () => {
    await seed(env.client, { stage: 'local', dir: env.seedsDir, aws: env.aws });
    const firstKeys = (await env.client.query('SELECT t.slug, k.secret_name, k.key_hash FROM tenant_api_keys k JOIN tenants t ON t.id = k.tenant_id ORDER BY t.slug')).rows;
    expect(firstKeys.length).toBeGreaterThan(0);
    for (const k of firstKeys) expect(k.secret_name).toMatch(new RegExp(`/tenants/${k.slug}/api-key$`));

    const other = await second.client();
    await seed(other, { stage: 'local', dir: env.seedsDir, aws: env.aws, secretNamespace: 'reporting' });
    const secondKeys = (await other.query('SELECT t.slug, k.secret_name FROM tenant_api_keys k JOIN tenants t ON t.id = k.tenant_id ORDER BY t.slug')).rows;
    expect(secondKeys.map((k) => k.slug)).toEqual(firstKeys.map((k) => k.slug));
    for (const k of secondKeys) expect(k.secret_name).toMatch(new RegExp(`/tenants/reporting/${k.slug}/api-key$`));

    // Each database's stored key still matches its own secret: nothing was overwritten.
    for (const k of firstKeys) {
      const out = await env.aws.secrets.send(new GetSecretValueCommand({ SecretId: k.secret_name }));
      expect(hashApiKey(JSON.parse(out.SecretString!).apiKey)).toBe(k.key_hash);
    }
  });
});

describe('migrator seed --secret-namespace', () => {
  it("the CLI seeds a third database under its own names; a namespace that is not one lowercase segment is a usage error", async () => {
    const third = await createTestDatabase('seedns3');
    const saved = { ...process.env };
    Object.assign(process.env, env.standIn.clientEnv());
    try {
      let err = '';
      const io = { out: () => {}, err: (t: string) => void (err += t) };
      const args = ['--seeds-dir', env.seedsDir, '--dir', MIGRATIONS, '--database-url', third.url, '--quiet'];
      expect(await main(['node', 'migrator', 'seed', '--secret-namespace', 'Bad_NS', ...args], io)).toBe(2);
      expect(err).toContain('--secret-namespace');
      expect(await main(['node', 'migrator', 'seed', '--secret-namespace', 'cli-db', ...args], io)).toBe(0);
      const c = await third.client();
      const keys = (await c.query('SELECT t.slug, k.secret_name, k.key_hash FROM tenant_api_keys k JOIN tenants t ON t.id = k.tenant_id')).rows;
      expect(keys.length).toBeGreaterThan(0);
      for (const k of keys) {
        expect(k.secret_name).toMatch(new RegExp(`/tenants/cli-db/${k.slug}/api-key$`));
        const out = await env.aws.secrets.send(new GetSecretValueCommand({ SecretId: k.secret_name }));
        expect(hashApiKey(JSON.parse(out.SecretString!).apiKey)).toBe(k.key_hash);
      }
      // rotate-key without the namespace still writes where this database's key lives, and leaves the
      // first database's secret of the same tenant alone.
      const slug = keys[0].slug as string;
      const firstDb = (await env.client.query('SELECT k.secret_name, k.key_hash FROM tenant_api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE t.slug = $1', [slug])).rows[0];
      const rotateArgs = ['--seeds-dir', env.seedsDir, '--database-url', third.url, '--quiet'];
      expect(await main(['node', 'migrator', 'rotate-key', '--tenant', slug, ...rotateArgs], io)).toBe(0);
      const pending = (await c.query(`SELECT k.secret_name, k.key_hash FROM tenant_api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE t.slug = $1 AND k.status = 'pending'`, [slug])).rows[0];
      expect(pending.secret_name).toMatch(new RegExp(`/tenants/cli-db/${slug}/api-key$`));
      const rotated = await env.aws.secrets.send(new GetSecretValueCommand({ SecretId: pending.secret_name }));
      expect(hashApiKey(JSON.parse(rotated.SecretString!).apiKey)).toBe(pending.key_hash);
      const untouched = await env.aws.secrets.send(new GetSecretValueCommand({ SecretId: firstDb.secret_name }));
      expect(hashApiKey(JSON.parse(untouched.SecretString!).apiKey)).toBe(firstDb.key_hash);
    } finally {
      process.env = saved;
      await third.drop();
    }
  });
});
