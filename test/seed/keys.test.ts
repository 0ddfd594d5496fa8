/**
 * Provider keys through the real stand-in: ciphertext + key ARN + secret version stored; a new
 * secret version re-encrypts only the tenants using that secret; another tenant's encryption context
 * cannot decrypt; no plaintext anywhere in the database.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CreateKeyCommand, DecryptCommand } from '@aws-sdk/client-kms';
import { CreateSecretCommand, GetSecretValueCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { seed, hashApiKey } from '../../functions/core/seed/index.ts';
import { editYaml, seedEnv, type SeedEnv } from './helpers.ts';

const ETMS_SECRET = 'migrator/local/llm/etms-only';
const ETMS_KEY_V1 = 'fake-etms-key-v1-NOT-REAL-7f3a9c';
const ETMS_KEY_V2 = 'fake-etms-key-v2-NOT-REAL-c41d02';

describe('seed: provider and inbound keys', () => {
  let env: SeedEnv;
  beforeEach(async () => {
    env = await seedEnv();
    await env.aws.secrets.send(new CreateSecretCommand({ Name: ETMS_SECRET, SecretString: JSON.stringify({ apiKey: ETMS_KEY_V1 }) }));
    editYaml(env.seedsDir, 'tenants/etms.yaml', (t) => {
      t.llm[0].apiKeySecret = 'migrator/{stage}/llm/etms-only';
    });
  });
  afterEach(async () => {
    await env.close();
  });

  async function llmRows() {
    const { rows } = await env.client.query(
      `SELECT t.slug, t.id AS tenant_id, s.purpose, s.api_key_ciphertext, s.api_key_kms_key_arn, s.api_key_secret_name, s.api_key_secret_version, s.updated_at
         FROM tenant_llm_settings s JOIN tenants t ON t.id = s.tenant_id ORDER BY t.slug`,
    );
    return new Map(rows.map((r) => [r.slug as string, r]));
  }

  it('a new secret version re-encrypts only the tenant using that secret', async () => {
    const { client, aws, standIn, seedsDir } = env;
    await seed(client, { stage: 'local', dir: seedsDir, aws });
    const before = await llmRows();
    const etms = before.get('etms');
    expect(etms.api_key_secret_name).toBe(ETMS_SECRET);
    expect(etms.api_key_kms_key_arn).toMatch(/^arn:aws:kms:us-east-1:\d{12}:key\//);

    const put = await aws.secrets.send(new PutSecretValueCommand({ SecretId: ETMS_SECRET, SecretString: JSON.stringify({ apiKey: ETMS_KEY_V2 }) }));
    standIn.resetCalls();
    const summary = await seed(client, { stage: 'local', dir: seedsDir, aws });
    expect(standIn.callCount('TrentService.Encrypt')).toBe(1);
    expect(standIn.callCount('secretsmanager.GetSecretValue')).toBe(1);
    expect(summary.keys).toEqual({ encrypted: 1, unchanged: 4, inboundCreated: 0 });
    expect(summary.tables.tenant_llm_settings).toMatchObject({ updated: 1, unchanged: 4, inserted: 0 });
    expect(summary.rowsWritten).toBe(1);

    const after = await llmRows();
    expect(after.get('etms').api_key_secret_version).toBe(put.VersionId);
    expect(Buffer.compare(after.get('etms').api_key_ciphertext, etms.api_key_ciphertext)).not.toBe(0);
    for (const slug of ['efms', 'vela', 'demo-acme', 'demo-globex']) {
      expect(after.get(slug).api_key_ciphertext.equals(before.get(slug).api_key_ciphertext)).toBe(true);
      expect(after.get(slug).updated_at).toEqual(before.get(slug).updated_at);
    }
    // The stored ciphertext decrypts to the new version, with the tenant's own context.
    const dec = await aws.kms.send(
      new DecryptCommand({ CiphertextBlob: after.get('etms').api_key_ciphertext, EncryptionContext: { tenant: etms.tenant_id, purpose: 'default' } }),
    );
    expect(Buffer.from(dec.Plaintext!).toString('utf8')).toBe(ETMS_KEY_V2);
  });

  it("another tenant's encryption context (or another purpose) cannot decrypt", async () => {
    const { client, aws, seedsDir } = env;
    await seed(client, { stage: 'local', dir: seedsDir, aws });
    const rows = await llmRows();
    const etms = rows.get('etms');
    const efms = rows.get('efms');
    const ok = await aws.kms.send(new DecryptCommand({ CiphertextBlob: etms.api_key_ciphertext, EncryptionContext: { purpose: 'default', tenant: etms.tenant_id } }));
    expect(Buffer.from(ok.Plaintext!).toString('utf8')).toBe(ETMS_KEY_V1);
    await expect(
      aws.kms.send(new DecryptCommand({ CiphertextBlob: etms.api_key_ciphertext, EncryptionContext: { tenant: efms.tenant_id, purpose: 'default' } })),
    ).rejects.toMatchObject({ name: 'InvalidCiphertextException' });
    await expect(
      aws.kms.send(new DecryptCommand({ CiphertextBlob: etms.api_key_ciphertext, EncryptionContext: { tenant: etms.tenant_id, purpose: 'embeddings' } })),
    ).rejects.toMatchObject({ name: 'InvalidCiphertextException' });
    await expect(aws.kms.send(new DecryptCommand({ CiphertextBlob: etms.api_key_ciphertext }))).rejects.toMatchObject({ name: 'InvalidCiphertextException' });
  });

  it('no plaintext key appears in any column of any table; inbound keys are stored as prefix + hash only', async () => {
    const { client, aws, seedsDir } = env;
    const logs: string[] = [];
    await seed(client, { stage: 'local', dir: seedsDir, aws, log: (l) => logs.push(l) });
    await aws.secrets.send(new PutSecretValueCommand({ SecretId: ETMS_SECRET, SecretString: JSON.stringify({ apiKey: ETMS_KEY_V2 }) }));
    await seed(client, { stage: 'local', dir: seedsDir, aws, log: (l) => logs.push(l) });

    // Every plaintext that exists: provider keys (fake dev secrets + ours) and the generated inbound keys.
    const secrets: string[] = [ETMS_KEY_V1, ETMS_KEY_V2];
    for (const name of ['migrator/local/llm/google', 'migrator/local/llm/openrouter']) {
      secrets.push(JSON.parse((await aws.secrets.send(new GetSecretValueCommand({ SecretId: name }))).SecretString!).apiKey);
    }
    const inbound = (await client.query(`SELECT t.slug, k.prefix, k.key_hash, k.secret_name FROM tenant_api_keys k JOIN tenants t ON t.id = k.tenant_id`)).rows;
    expect(inbound).toHaveLength(5);
    for (const k of inbound) {
      expect(k.secret_name).toBe(`migrator/local/tenants/${k.slug}/api-key`);
      const value = JSON.parse((await aws.secrets.send(new GetSecretValueCommand({ SecretId: k.secret_name }))).SecretString!);
      expect(value.apiKey.startsWith(`${k.prefix}_`)).toBe(true);
      expect(hashApiKey(value.apiKey)).toBe(k.key_hash);
      secrets.push(value.apiKey, value.apiKey.slice(k.prefix.length + 1));
    }
    expect(secrets.length).toBeGreaterThanOrEqual(14);

    // Scan every column of every table, cast to text (bytea as hex and as escaped text, jsonb as text).
    const { rows: cols } = await client.query(
      `SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2`,
    );
    let scanned = 0;
    for (const c of cols) {
      const ident = `"${c.column_name}"`;
      const exprs = c.data_type === 'bytea' ? [`encode(${ident}, 'escape')`, `encode(${ident}, 'hex')`, `encode(${ident}, 'base64')`] : [`${ident}::text`];
      for (const expr of exprs) {
        const { rows } = await client.query(`SELECT ${expr} AS v FROM public."${c.table_name}" WHERE ${ident} IS NOT NULL`);
        for (const r of rows) {
          scanned++;
          for (const s of secrets) expect(r.v.includes(s), `${c.table_name}.${c.column_name} holds a plaintext key`).toBe(false);
        }
      }
    }
    expect(scanned).toBeGreaterThan(100);
    const logText = logs.join('\n');
    expect(logText.length).toBeGreaterThan(0);
    for (const s of secrets) expect(logText.includes(s)).toBe(false);
  });

  it('a stage key given by ARN that differs from the stored one re-encrypts; the same ARN again does not', async () => {
    const { client, aws, standIn, seedsDir } = env;
    await seed(client, { stage: 'local', dir: seedsDir, aws });
    const created = await aws.kms.send(new CreateKeyCommand({ Description: 'next stage key' }));
    const arn = created.KeyMetadata!.Arn!;
    standIn.resetCalls();
    const moved = await seed(client, { stage: 'local', dir: seedsDir, aws, kmsKeyId: arn });
    expect(moved.keys.encrypted).toBe(5);
    expect(standIn.callCount('TrentService.Encrypt')).toBe(5);
    const arns = (await client.query(`SELECT DISTINCT api_key_kms_key_arn AS a FROM tenant_llm_settings`)).rows.map((r) => r.a);
    expect(arns).toEqual([arn]);
    standIn.resetCalls();
    const again = await seed(client, { stage: 'local', dir: seedsDir, aws, kmsKeyId: arn });
    expect(again.keys.encrypted).toBe(0);
    expect(again.rowsWritten).toBe(0);
    expect(standIn.callCount('TrentService.Encrypt')).toBe(0);
  });
});
