/**
 * A reset replaces keys a tenant already had, and the new plaintext reaches Secrets Manager before the
 * run's COMMIT. When the run then fails, the database keeps the old key while the secret holds the new one:
 * the error says so, naming the secrets, and running the same reset again makes them agree.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { hashApiKey, seed } from '../../functions/core/seed/index.ts';
import { seedEnv, type SeedEnv } from './helpers.ts';

describe('a reset that fails after writing its new keys', () => {
  let env: SeedEnv;
  beforeEach(async () => {
    env = await seedEnv();
    await seed(env.client, { stage: 'local', dir: env.seedsDir, aws: env.aws });
  });
  afterEach(async () => {
    await env.close();
  });

  const keyOf = async (slug: string) =>
    (await env.client.query(`SELECT k.secret_name, k.key_hash FROM tenant_api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE t.slug = $1 AND k.status = 'active'`, [slug])).rows[0];
  const secretHash = async (name: string) => hashApiKey(JSON.parse((await env.aws.secrets.send(new GetSecretValueCommand({ SecretId: name }))).SecretString!).apiKey);

  it('names the secrets it wrote and says to run the reset again; the second reset makes database and secret agree', async () => {
    const before = await keyOf('etms');
    expect(await secretHash(before.secret_name)).toBe(before.key_hash);
    // Something after the keys fails (here the audit insert, the step after them).
    await env.client.query(`CREATE FUNCTION fail_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit is down'; END $$`);
    await env.client.query(`CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION fail_audit()`);
    const failed = seed(env.client, { stage: 'local', dir: env.seedsDir, aws: env.aws, tenants: ['etms'], reset: ['etms'], action: 'reseed' });
    await expect(failed).rejects.toThrow(/audit is down/);
    await expect(failed).rejects.toThrow(new RegExp(`new keys to ${before.secret_name.replaceAll('/', '\\/')}.*run the same reseed --reset again`));
    // The database kept the old key; the secret moved on.
    expect(await keyOf('etms')).toEqual(before);
    expect(await secretHash(before.secret_name)).not.toBe(before.key_hash);

    await env.client.query('DROP TRIGGER fail_audit ON audit_log');
    await seed(env.client, { stage: 'local', dir: env.seedsDir, aws: env.aws, tenants: ['etms'], reset: ['etms'], action: 'reseed' });
    const after = await keyOf('etms');
    expect(after.key_hash).not.toBe(before.key_hash);
    expect(await secretHash(after.secret_name)).toBe(after.key_hash);
  });
});
