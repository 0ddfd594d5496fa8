/**
 * Provider secrets: the file names a Secrets Manager secret; the row gets KMS ciphertext of one JSON
 * field of it, under the stage key, with the encryption context the model declares. Re-encrypted only
 * when the secret's AWSCURRENT version (or its name, or the stage key ARN) changes, so an unchanged
 * seed makes no KMS call and reads no secret value.
 */
import { defaultContext, type Field, type Section } from '../model.ts';
import { encryptForTenant, type EncryptedKey } from '../llm-keys.ts';
import { mapPool } from '../pool.ts';
import { SeedError } from '../errors.ts';
import type { DiffResult } from './diff.ts';
import type { Item, RunContext } from './context.ts';

export const storedAlias = (f: Field, what: 'has' | 'version' | 'keyId') => `ps:${f.name}:${what}`;

/** The stored values a provider secret's decision needs (SQL over the stored row `t`). */
export function providerFetch(f: Field): Record<string, string> {
  const p = f.providerSecret!;
  const q = (c: string) => `t."${c}"`;
  return {
    [storedAlias(f, 'has')]: `${q(p.ciphertextColumn)} IS NOT NULL`,
    ...(p.versionColumn ? { [storedAlias(f, 'version')]: `${q(p.versionColumn)}::text` } : {}),
    ...(p.keyIdColumn ? { [storedAlias(f, 'keyId')]: `${q(p.keyIdColumn)}::text` } : {}),
  };
}

export interface ProviderDecision {
  encrypt: boolean;
  clear: boolean;
}

export function decideProvider(ctx: RunContext, f: Field, item: Item, res: DiffResult, found: boolean): ProviderDecision {
  const p = f.providerSecret!;
  const name = item.entry[f.name] as string | undefined;
  const has = found && res.stored[storedAlias(f, 'has')] === true;
  if (!name) return { encrypt: false, clear: has };
  const version = ctx.versions.get(name);
  const encrypt =
    !has ||
    (!!f.column && res.changed.includes(f.column)) ||
    (!!p.versionColumn && res.stored[storedAlias(f, 'version')] !== version) ||
    (ctx.keyArn !== undefined && !!p.keyIdColumn && res.stored[storedAlias(f, 'keyId')] !== ctx.keyArn);
  return { encrypt, clear: false };
}

/** The encryption context of one value: the model's templates filled in. */
export function renderContext(templates: Record<string, string>, v: { tenantId: string; slug: string; row: Record<string, unknown>; path: string }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, t] of Object.entries(templates)) {
    out[k] = t.replace(/\{([^}]*)\}/g, (_, name: string) =>
      name === 'tenant.id' ? v.tenantId : name === 'tenant.slug' ? v.slug : name === 'path' ? v.path : name.startsWith('row.') ? String(v.row[name.slice(4)] ?? '') : `{${name}}`,
    );
  }
  return out;
}

export interface EncryptJob {
  secret: string;
  jsonField: string;
  context: Record<string, string>;
  slug: string;
}

export interface Encrypted extends EncryptedKey {
  version: string;
}

/** One GetSecretValue per (secret, version, field), then one Encrypt per value (its own context). */
export async function encryptAll(ctx: RunContext, jobs: readonly EncryptJob[]): Promise<Encrypted[]> {
  const aws = ctx.aws;
  if (jobs.length === 0) return [];
  if (!aws) throw new SeedError('This seed needs KMS and Secrets Manager clients (options.aws).');
  return mapPool(jobs, ctx.concurrency, async (j) => {
    const version = ctx.versions.get(j.secret);
    if (!version) throw new SeedError(`Internal: no version for secret "${j.secret}"`);
    const plaintext = await ctx.secretValue(j.secret, version, j.jsonField);
    const enc = await encryptForTenant(aws, { kmsKeyId: ctx.kmsKeyId, tenantSlug: j.slug, plaintext, context: j.context });
    return { ...enc, version };
  });
}

/** The context of a provider-secret field of a row. */
export function providerContext(s: Section, f: Field, item: Item, tenantId: string): Record<string, string> {
  return renderContext(defaultContext(s, f.providerSecret!), { tenantId, slug: item.tenant!.slug, row: item.entry, path: `${s.table}.${f.providerSecret!.ciphertextColumn}` });
}
