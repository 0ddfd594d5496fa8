/** Assertions both entry points (CLI, deploy function) make on a seeded fixture database. */
import { expect } from 'vitest';
import type pg from 'pg';
import { DecryptCommand, type KMSClient } from '@aws-sdk/client-kms';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { generatedPlaintext, hashOf, type Fixture, type StoredCiphertext } from './fixtures.ts';

/** Row counts of the model's tables and of the untouched ones (which must be empty). */
export async function expectTableCounts(client: pg.ClientBase, fx: Fixture): Promise<void> {
  for (const t of [...Object.keys(fx.counts), ...fx.untouched]) {
    const { rows } = await client.query(`SELECT count(*)::int AS n FROM "${t}"`);
    expect(rows[0].n, t).toBe(fx.counts[t] ?? 0);
  }
}

/** One ciphertext per provider value, under the stage key, with a recorded secret version. */
export async function expectCiphertexts(client: pg.ClientBase, fx: Fixture, keyArn: string): Promise<StoredCiphertext[]> {
  const stored = await fx.ciphertexts(client);
  expect(stored).toHaveLength(fx.encryptsFirstRun);
  for (const c of stored) {
    expect(c.keyId, `${c.tenant} ${c.where}`).toBe(keyArn);
    expect(c.version, `${c.tenant} ${c.where}`).toBeTruthy();
  }
  return stored;
}

/** Each generated key: plaintext only in its secret; the declared hash (and prefix) in the row. Returns the plaintexts. */
export async function expectGeneratedKeys(client: pg.ClientBase, sm: SecretsManagerClient, fx: Fixture, secretPrefix: string): Promise<string[]> {
  const out: string[] = [];
  for (const g of fx.generated(secretPrefix)) {
    const plain = await generatedPlaintext(sm, g.secretName);
    expect(plain.length, g.secretName).toBeGreaterThanOrEqual(32);
    const { hash, prefix } = await g.stored(client);
    expect(hash, g.secretName).toBe(hashOf(g.hash, plain));
    if (prefix !== null) expect(plain.startsWith(prefix), `${g.secretName} starts with ${prefix}`).toBe(true);
    out.push(plain);
  }
  return out;
}

/** After a new version of fx.bump's secret: exactly that tenant's value changed, and it decrypts to `next`. */
export async function expectOnlyBumpedReencrypted(kms: KMSClient, fx: Fixture, before: StoredCiphertext[], after: StoredCiphertext[], next: string): Promise<void> {
  expect(after.map((c) => `${c.tenant}:${c.where}`)).toEqual(before.map((c) => `${c.tenant}:${c.where}`));
  const changed = after.filter((c, i) => !c.blob.equals(before[i]!.blob) || c.version !== before[i]!.version).map((c) => `${c.tenant}:${c.where}`);
  expect(changed).toEqual([`${fx.bump.tenant}:${fx.bump.where}`]);
  const bumped = after.find((c) => c.tenant === fx.bump.tenant && c.where === fx.bump.where)!;
  const plain = await kms.send(new DecryptCommand({ CiphertextBlob: bumped.blob, EncryptionContext: bumped.context }));
  expect(Buffer.from(plain.Plaintext!).toString('utf8')).toBe(next);
}

/** Every stored value decrypts under its own tenant's context, and KMS refuses it under another tenant's. */
export async function expectContextsBound(client: pg.ClientBase, kms: KMSClient, fx: Fixture, providerValues: string[]): Promise<void> {
  const stored = await fx.ciphertexts(client);
  expect(stored).toHaveLength(fx.encryptsFirstRun);
  const ids = (await client.query(`SELECT slug, id::text AS id FROM tenants ORDER BY slug`)).rows as { slug: string; id: string }[];
  for (const c of stored) {
    const own = await kms.send(new DecryptCommand({ CiphertextBlob: c.blob, EncryptionContext: c.context }));
    expect(providerValues).toContain(Buffer.from(own.Plaintext!).toString('utf8'));
    const other = ids.find((t) => t.slug !== c.tenant)!;
    const foreign = { ...c.context, tenant: other.id, ...('tenantSlug' in c.context ? { tenantSlug: other.slug } : {}) };
    const refused = await kms.send(new DecryptCommand({ CiphertextBlob: c.blob, EncryptionContext: foreign })).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(refused?.name, `${c.tenant} ${c.where} under ${other.slug}'s context`).toBe('InvalidCiphertextException');
  }
}

/** Rows that do not belong to `tenant` in its child tables and in tenants: a reset must leave them as they are. */
export async function rowsOfOtherTenants(client: pg.ClientBase, fx: Fixture, tenantId: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const t of fx.reset.childTables) {
    out[t] = (await client.query(`SELECT to_jsonb(x)::text AS j FROM "${t}" x WHERE tenant_id <> $1 ORDER BY 1`, [tenantId])).rows.map((r) => r.j);
  }
  out.tenants = (await client.query(`SELECT to_jsonb(x)::text AS j FROM tenants x WHERE id <> $1 ORDER BY 1`, [tenantId])).rows.map((r) => r.j);
  return out;
}
