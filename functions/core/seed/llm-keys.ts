/**
 * Provider (LLM) API keys: read from Secrets Manager by name, encrypted with KMS under the stage key
 * with the encryption context {tenant, purpose}. Only the ciphertext, the key ARN, the secret name and
 * its VersionId reach the database. The plaintext lives in memory for the duration of one Encrypt.
 *
 * Change detection is by VersionId: DescribeSecret tells the AWSCURRENT version without reading the
 * value, so an unchanged run reads no secret value and makes no KMS call.
 */
import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { EncryptCommand } from '@aws-sdk/client-kms';
import * as z from 'zod';
import type { SeedAwsClients } from './aws.ts';
import { awsErrorName, awsErrorText } from './aws.ts';
import { SeedError } from './errors.ts';
import { mapPool } from './pool.ts';

/** The JSON a provider-key secret must hold. Extra fields are allowed (e.g. a note), `field` (apiKey) is required. */
export const providerSecretSchema = (field = 'apiKey') => z.object({ [field]: z.string().min(8, `${field} must be at least 8 characters`) });
export const ProviderSecretSchema = providerSecretSchema();

function who(tenants: readonly string[]): string {
  return tenants.length === 1 ? `tenant "${tenants[0]}"` : `tenants ${tenants.map((t) => `"${t}"`).join(', ')}`;
}

/** Where a secret is named in the seed files (for messages): `tenants/x.yaml:7 llm[0].apiKeySecret`, and the JSON field read. */
export interface SecretUse {
  where: () => string;
  jsonField: string;
}

/** The message prefix and the hint of a secret's first use. */
const at = (use?: SecretUse) => (use ? `${use.where()}: ` : '');
const shape = (use?: SecretUse) => `{"${use?.jsonField ?? 'apiKey'}": "..."}`;

/** AWSCURRENT VersionId of a secret (DescribeSecret: metadata only, no value). */
export async function currentSecretVersion(aws: SeedAwsClients, secretName: string, tenants: readonly string[], use?: SecretUse): Promise<string> {
  let out;
  try {
    out = await aws.secrets.send(new DescribeSecretCommand({ SecretId: secretName }));
  } catch (e) {
    const missing = awsErrorName(e) === 'ResourceNotFoundException';
    throw new SeedError(
      missing
        ? `${at(use)}secret "${secretName}" (${who(tenants)}) does not exist in Secrets Manager. Create it with ${shape(use)}, or fix the secret name in the seed file.`
        : `${at(use)}cannot describe secret "${secretName}" (${who(tenants)}): ${awsErrorText(e)}`,
      { tenant: tenants[0], secret: secretName, awsError: awsErrorName(e) },
      { cause: e },
    );
  }
  if (out.DeletedDate) {
    throw new SeedError(`${at(use)}secret "${secretName}" (${who(tenants)}) is scheduled for deletion.`, { tenant: tenants[0], secret: secretName });
  }
  const current = Object.entries(out.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes('AWSCURRENT'));
  if (!current) {
    throw new SeedError(`${at(use)}secret "${secretName}" (${who(tenants)}) has no AWSCURRENT version (no value was ever stored).`, {
      tenant: tenants[0],
      secret: secretName,
    });
  }
  return current[0];
}

export interface VersionLookupOptions {
  /** Concurrent DescribeSecret calls; default 16. */
  concurrency?: number;
}

/**
 * AWSCURRENT version of each secret (name -> tenants using it), metadata only: one DescribeSecret per
 * named secret, a bounded number at a time. No listing, so IAM needs nothing beyond the named secrets.
 */
export async function currentSecretVersions(
  aws: SeedAwsClients,
  users: ReadonlyMap<string, readonly string[]>,
  options: VersionLookupOptions & { uses?: ReadonlyMap<string, SecretUse> } = {},
): Promise<Map<string, string>> {
  const names = [...users.keys()];
  const versions = await mapPool(names, options.concurrency ?? 16, (name) => currentSecretVersion(aws, name, users.get(name) ?? [], options.uses?.get(name)));
  return new Map(names.map((n, i) => [n, versions[i] as string]));
}

/** The apiKey of one secret version, shape-checked. The error never contains the value. */
export async function readProviderKey(aws: SeedAwsClients, secretName: string, versionId: string, tenants: readonly string[], jsonField = 'apiKey', use?: SecretUse): Promise<string> {
  let text: string | undefined;
  try {
    const out = await aws.secrets.send(new GetSecretValueCommand({ SecretId: secretName, VersionId: versionId }));
    text = out.SecretString;
  } catch (e) {
    const name = awsErrorName(e);
    const hint = name && /Disabled|KMS|Decryption/.test(name) ? " (the KMS key that encrypts this secret refused; is it disabled?)" : '';
    throw new SeedError(
      `${at(use)}cannot read secret "${secretName}" (${who(tenants)}): ${awsErrorText(e)}${hint}`,
      { tenant: tenants[0], secret: secretName, awsError: awsErrorName(e) },
      { cause: e },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text ?? '');
  } catch {
    json = undefined;
  }
  const parsed = providerSecretSchema(jsonField).safeParse(json);
  if (!parsed.success) {
    const reason = json === undefined ? 'it is not JSON' : parsed.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ');
    throw new SeedError(
      `${at(use)}secret "${secretName}" (${who(tenants)}) has the wrong shape: expected JSON {"${jsonField}": "..."}; ${reason}.`,
      { tenant: tenants[0], secret: secretName },
    );
  }
  return parsed.data[jsonField] as string;
}

export interface EncryptedKey {
  ciphertext: Buffer;
  keyArn: string;
}

/**
 * Encrypts under the stage key with the encryption context the model declares (by default
 * {tenant: <tenant id>, purpose}; authenticated, not secret).
 */
export async function encryptForTenant(
  aws: SeedAwsClients,
  args: { kmsKeyId: string; tenantSlug: string; plaintext: string; context: Record<string, string> },
): Promise<EncryptedKey> {
  const what = args.context.purpose !== undefined ? `purpose "${args.context.purpose}"` : Object.keys(args.context).join(', ');
  try {
    const out = await aws.kms.send(
      new EncryptCommand({
        KeyId: args.kmsKeyId,
        Plaintext: Buffer.from(args.plaintext, 'utf8'),
        EncryptionContext: args.context,
      }),
    );
    if (!out.CiphertextBlob || !out.KeyId) throw new Error('Encrypt returned no ciphertext or key id');
    return { ciphertext: Buffer.from(out.CiphertextBlob), keyArn: out.KeyId };
  } catch (e) {
    const name = awsErrorName(e);
    const hint =
      name === 'DisabledException'
        ? ' The key is disabled; enable it or point stages.yaml at the right key.'
        : name === 'NotFoundException'
          ? ' No such key or alias; check kmsKeyId in stages.yaml.'
          : name === 'ThrottlingException'
            ? ' KMS kept throttling after the SDK retries; re-run later (nothing was written).'
            : '';
    throw new SeedError(
      `KMS Encrypt with key "${args.kmsKeyId}" failed for tenant "${args.tenantSlug}" (${what}): ${awsErrorText(e)}.${hint}`,
      { tenant: args.tenantSlug, awsError: name },
      { cause: e },
    );
  }
}
