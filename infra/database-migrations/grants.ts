/**
 * What `DatabaseMigrations`' functions may do beyond reading the database secret: read their own stack's
 * status, and with seeds, encrypt with the stage key and write/read secrets under the fixed prefixes.
 */
import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';
import type { DatabaseMigrationsProps } from './props.ts';
import { seedContextKeys } from './seed-context.ts';

/** A rollback is recognised from the stack's own status, without the database: read this stack only. */
export function grantReadOwnStackStatus(fn: lambda.Function) {
  // (In isolated subnets this needs a CloudFormation interface endpoint, like Secrets Manager and KMS.)
  fn.addToRolePolicy(
    new iam.PolicyStatement({ sid: 'ReadOwnStackStatus', actions: ['cloudformation:DescribeStacks'], resources: [Stack.of(fn).stackId] }),
  );
}

/** Seed permissions (only a database with seeds gets them); also the fleet's worker and long-running build. */
export function grantSeeding(
  fn: Pick<lambda.Function, 'addToRolePolicy'> & IConstruct,
  props: Pick<DatabaseMigrationsProps, 'encryptionKey' | 'encryptionContextKeys' | 'providerSecretsKey' | 'seedsDir'>,
  tenantPrefix: string,
  providerPrefix: string,
) {
  const stack = Stack.of(fn);
  const secretArn = (prefix: string) =>
    stack.formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: `${prefix}*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });

  if (props.encryptionKey) {
    const contextKeys = props.encryptionContextKeys ?? (props.seedsDir ? seedContextKeys(props.seedsDir) : ['tenant', 'purpose']);
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'EncryptTenantSecretsWithStageKey',
        actions: ['kms:Encrypt'],
        resources: [props.encryptionKey.keyArn],
        conditions: {
          'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': contextKeys },
          // ForAllValues passes on an empty set: require a context.
          Null: { 'kms:EncryptionContextKeys': 'false' },
        },
      }),
    );
    // Tenant secrets are created with the stage key: Secrets Manager asks KMS for a data key on the
    // caller's behalf, allowed only through Secrets Manager and only for secrets under the tenant prefix.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'StageKeyForTenantSecretsViaSecretsManager',
        actions: ['kms:GenerateDataKey'],
        resources: [props.encryptionKey.keyArn],
        conditions: {
          StringEquals: { 'kms:ViaService': `secretsmanager.${stack.region}.${stack.urlSuffix}` },
          StringLike: { 'kms:EncryptionContext:SecretARN': secretArn(tenantPrefix) },
        },
      }),
    );
  }

  fn.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'WriteTenantSecretsUnderPrefix',
      // What the seeds do with a tenant's inbound API key secret: create it, or put a new version. No read.
      actions: ['secretsmanager:CreateSecret', 'secretsmanager:PutSecretValue', 'secretsmanager:DescribeSecret'],
      resources: [secretArn(tenantPrefix)],
    }),
  );
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'ReadProviderSecretsUnderPrefix',
      actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
      resources: [secretArn(providerPrefix)],
    }),
  );
  if (props.providerSecretsKey) {
    // Provider secrets encrypted with a customer-managed key: decrypt through Secrets Manager only,
    // and only for secrets under the provider prefix (so tenant ciphertext can never be decrypted).
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'DecryptProviderSecretsViaSecretsManager',
        actions: ['kms:Decrypt'],
        resources: [props.providerSecretsKey.keyArn],
        conditions: {
          StringEquals: { 'kms:ViaService': `secretsmanager.${stack.region}.${stack.urlSuffix}` },
          StringLike: { 'kms:EncryptionContext:SecretARN': secretArn(providerPrefix) },
        },
      }),
    );
  }
}
