/**
 * Idempotent development setup on a running stand-in: the local stage key (alias
 * `alias/migrator-local`) and clearly fake provider secrets for the seeds to reference. It goes
 * through the real SDK clients, so it exercises the same wire path as the application.
 */
import { CreateAliasCommand, CreateKeyCommand, DescribeKeyCommand, EnableKeyCommand, KMSClient, NotFoundException } from '@aws-sdk/client-kms';
import { CreateSecretCommand, DescribeSecretCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { AwsStandIn } from './server.ts';

export interface DevSecret {
  /** Secrets Manager name, e.g. `migrator/local/llm/google`. */
  name: string;
  /** SecretString; must be an obviously fake value. */
  value: string;
  description?: string;
}

/** Alias of the local stage's customer-managed key. */
export const DEV_KEY_ALIAS = 'alias/migrator-local';

/** Fake LLM provider keys as JSON `{"apiKey": ...}`; the seeds reference them by name. */
export const DEFAULT_DEV_SECRETS: readonly DevSecret[] = Object.freeze([
  {
    name: 'migrator/local/llm/google',
    value: JSON.stringify({ apiKey: 'fake-dev-google-key-NOT-REAL' }),
    description: 'Fake Google LLM key for local development (not a real credential)',
  },
  {
    name: 'migrator/local/llm/openrouter',
    value: JSON.stringify({ apiKey: 'fake-dev-openrouter-key-NOT-REAL' }),
    description: 'Fake OpenRouter LLM key for local development (not a real credential)',
  },
]);

export interface BootstrapDevOptions {
  /** Default {@link DEV_KEY_ALIAS}. */
  aliasName?: string;
  /** Default {@link DEFAULT_DEV_SECRETS}. Existing secrets keep their value: a re-run never overwrites. */
  secrets?: readonly DevSecret[];
  /** Encrypt the dev secrets with the dev key (default true), as a stage would with its own key. */
  secretsUseDevKey?: boolean;
}

export interface DevBootstrap {
  keyId: string;
  keyArn: string;
  aliasName: string;
  aliasArn: string;
  /** True when this call created the key (first start). */
  keyCreated: boolean;
  secrets: Array<{ name: string; arn: string; versionId: string | undefined; created: boolean }>;
}

export async function bootstrapDev(
  standIn: Pick<AwsStandIn, 'endpoint' | 'region' | 'credentials'>,
  options: BootstrapDevOptions = {},
): Promise<DevBootstrap> {
  const aliasName = options.aliasName ?? DEV_KEY_ALIAS;
  const config = { endpoint: standIn.endpoint, region: standIn.region, credentials: { ...standIn.credentials } };
  const kms = new KMSClient(config);
  const sm = new SecretsManagerClient(config);
  try {
    let keyCreated = false;
    let meta;
    try {
      meta = (await kms.send(new DescribeKeyCommand({ KeyId: aliasName }))).KeyMetadata;
    } catch (err) {
      if (!(err instanceof NotFoundException)) throw err;
      meta = (await kms.send(new CreateKeyCommand({ Description: `Local development stage key (${aliasName})` }))).KeyMetadata;
      await kms.send(new CreateAliasCommand({ AliasName: aliasName, TargetKeyId: meta!.KeyId! }));
      keyCreated = true;
    }
    const keyId = meta!.KeyId!;
    // A developer may have disabled it to try the failure path; the dev start needs it usable.
    if (meta!.Enabled === false) await kms.send(new EnableKeyCommand({ KeyId: keyId }));

    const secrets: DevBootstrap['secrets'] = [];
    for (const secret of options.secrets ?? DEFAULT_DEV_SECRETS) {
      try {
        const d = await sm.send(new DescribeSecretCommand({ SecretId: secret.name }));
        const current = Object.entries(d.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes('AWSCURRENT'))?.[0];
        secrets.push({ name: secret.name, arn: d.ARN!, versionId: current, created: false });
      } catch (err) {
        if (!(err instanceof ResourceNotFoundException)) throw err;
        const c = await sm.send(
          new CreateSecretCommand({
            Name: secret.name,
            SecretString: secret.value,
            ...(secret.description !== undefined ? { Description: secret.description } : {}),
            ...(options.secretsUseDevKey === false ? {} : { KmsKeyId: aliasName }),
          }),
        );
        secrets.push({ name: secret.name, arn: c.ARN!, versionId: c.VersionId, created: true });
      }
    }
    return {
      keyId,
      keyArn: meta!.Arn!,
      aliasName,
      aliasArn: `arn:aws:kms:${standIn.region}:${meta!.AWSAccountId}:${aliasName}`,
      keyCreated,
      secrets,
    };
  } finally {
    kms.destroy();
    sm.destroy();
  }
}
