/**
 * Tenant inbound API keys (seed 004): crypto-random, with a recognisable prefix. The database keeps
 * the prefix (for lookup) and a SHA-256 hash; the plaintext goes only to a per-tenant Secrets Manager
 * secret encrypted with the stage key, where an operator or the application fetches it.
 *
 * Key format: `tk_<slug>_<8 hex>_<43 chars base64url>`; the prefix is `tk_<slug>_<8 hex>`.
 * Statuses: active (in use), pending (issued by rotate-key, valid, awaiting confirmation),
 * retiring (the previous key during a rotation, valid until confirmation or expires_at), revoked.
 */
import { createHash, randomBytes } from 'node:crypto';
import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { SeedAwsClients } from './aws.ts';
import { awsErrorName, awsErrorText } from './aws.ts';
import { SeedError } from './errors.ts';
import type { HashName } from './model.ts';

export interface GeneratedApiKey {
  /** The full key: shown to nobody, written only to Secrets Manager. */
  plaintext: string;
  prefix: string;
  /** SHA-256 hex of the full key. */
  hash: string;
}

export function generateApiKey(slug: string): GeneratedApiKey {
  return generateKey(`tk_${slug}_`, 'sha256');
}

/**
 * A new key: `<prefixBase><8 hex>` is its prefix (stored for lookups), `<prefix>_<43 chars base64url>`
 * the key (256 random bits), hashed with the model's algorithm.
 */
export function generateKey(prefixBase: string, hash: HashName): GeneratedApiKey {
  const prefix = `${prefixBase}${randomBytes(4).toString('hex')}`;
  const plaintext = `${prefix}_${randomBytes(32).toString('base64url')}`;
  return { plaintext, prefix, hash: hashKey(plaintext, hash) };
}

export function hashApiKey(key: string): string {
  return hashKey(key, 'sha256');
}

/** The hash the database keeps: sha256/sha512 as hex, or `-base64`. */
export function hashKey(key: string, hash: HashName): string {
  const [algorithm, encoding] = hash.endsWith('-base64') ? [hash.slice(0, -7), 'base64' as const] : [hash, 'hex' as const];
  return createHash(algorithm).update(key, 'utf8').digest(encoding);
}

/**
 * `<secretPrefix>/tenants/<slug>/api-key`, or `<secretPrefix>/tenants/<namespace>/<slug>/api-key` for a
 * database with a secret namespace (several databases of one stage seeding the same tenant slug must not
 * overwrite each other's keys). Both fall under `<secretPrefix>/tenants/*`, the IAM scope of the writes.
 */
export function apiKeySecretName(secretPrefix: string, slug: string, namespace?: string, name = 'api-key'): string {
  const base = `${secretPrefix.replace(/\/+$/, '')}/tenants`;
  return namespace ? `${base}/${namespace}/${slug}/${name}` : `${base}/${slug}/${name}`;
}

export { SECRET_NAMESPACE_PATTERN } from '../secret-namespace.ts';

/**
 * Stores the plaintext in the tenant's secret: CreateSecret (encrypted with the stage key) or, when the
 * secret exists (a rotation, or an earlier run whose database transaction rolled back), a new version.
 * The database decides which keys are valid, so overwriting a never-committed key is harmless.
 */
export async function storeApiKeySecret(
  aws: SeedAwsClients,
  args: { secretName: string; kmsKeyId: string; slug: string; key: GeneratedApiKey; what?: string },
): Promise<string | undefined> {
  const SecretString = JSON.stringify({ apiKey: args.key.plaintext, prefix: args.key.prefix });
  try {
    try {
      const out = await aws.secrets.send(
        new CreateSecretCommand({
          Name: args.secretName,
          KmsKeyId: args.kmsKeyId,
          SecretString,
          // No Tags: tagging needs secretsmanager:TagResource, which the function is not granted.
          Description: `${args.what ?? 'Inbound API key'} of tenant ${args.slug} (managed by migrator seed / rotate-key)`,
        }),
      );
      return out.VersionId;
    } catch (e) {
      if (awsErrorName(e) !== 'ResourceExistsException') throw e;
      const out = await aws.secrets.send(new PutSecretValueCommand({ SecretId: args.secretName, SecretString }));
      return out.VersionId;
    }
  } catch (e) {
    throw new SeedError(
      `Cannot store the inbound API key of tenant "${args.slug}" in secret "${args.secretName}": ${awsErrorText(e)}`,
      { tenant: args.slug, secret: args.secretName, awsError: awsErrorName(e) },
      { cause: e },
    );
  }
}
