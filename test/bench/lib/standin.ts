/**
 * The local KMS / Secrets Manager stand-in (local/aws-standin/), loaded by path so the bench runs
 * before it lands, plus the setup the seeding bench needs: a stage key with its alias and one
 * provider-key secret per tenant, created over the wire with the real SDK clients.
 */
import { CreateAliasCommand, CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { exportedFunction, findFile, importModule } from './optional.ts';

/** The part of the stand-in's contract the bench uses. */
export interface StandIn {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  /** Calls per X-Amz-Target so far. */
  readonly calls: Readonly<Record<string, number>>;
  callCount(target: string): number;
  stop(): Promise<void>;
}

export async function startStandIn(): Promise<StandIn> {
  const file = findFile(['local/aws-standin/index.ts'], 'KMS/Secrets Manager stand-in');
  const start = exportedFunction<(o?: Record<string, unknown>) => Promise<StandIn>>(await importModule(file), 'startAwsStandIn', file);
  const s = await start({});
  if (typeof s.callCount !== 'function') {
    // An earlier shape of the contract: `calls` counts by X-Amz-Target.
    const calls = (s as unknown as { calls: Record<string, number> }).calls;
    return Object.assign(s, { callCount: (t: string) => calls[t] ?? 0 });
  }
  return s;
}

/** Environment that points unchanged SDK clients (in this process or a child) at the stand-in. */
export function standInEnv(s: StandIn): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_KMS: s.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: s.endpoint,
    AWS_ACCESS_KEY_ID: s.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s.credentials.secretAccessKey,
    AWS_REGION: s.region,
  };
}

function clients(s: StandIn) {
  // A copy: the SDK annotates the credentials object, and the stand-in hands out a frozen one.
  const config = { endpoint: s.endpoint, region: s.region, credentials: { ...s.credentials } };
  return { kms: new KMSClient(config), secrets: new SecretsManagerClient(config) };
}

/** A customer-managed key with `alias`; returns its ARN. */
export async function createKey(s: StandIn, alias: string): Promise<string> {
  const { kms } = clients(s);
  try {
    const key = await kms.send(new CreateKeyCommand({ Description: 'migrator bench stage key' }));
    const arn = key.KeyMetadata?.Arn;
    if (!arn || !key.KeyMetadata?.KeyId) throw new Error('CreateKey returned no key');
    await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key.KeyMetadata.KeyId }));
    return arn;
  } finally {
    kms.destroy();
  }
}

/** Creates the named secrets holding `value(name)`, `concurrency` calls at a time. */
export async function createSecrets(s: StandIn, names: readonly string[], value: (name: string) => string, concurrency = 16): Promise<void> {
  const { secrets } = clients(s);
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < names.length) {
          const name = names[next++]!;
          await secrets.send(new CreateSecretCommand({ Name: name, SecretString: value(name) }));
        }
      }),
    );
  } finally {
    secrets.destroy();
  }
}
