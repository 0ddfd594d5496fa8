/** `DatabaseMigrations`' props, their defaults and when the custom resource runs. */
import { Duration } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as rds from 'aws-cdk-lib/aws-rds';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { EndpointMode } from '../network.ts';

/** When the custom resource runs. */
export type RunOn =
  /**
   * Every `cdk deploy` (a property changes on every synth). The default: only a run notices a rotated
   * provider secret that seeds must re-encrypt, and a run that has nothing to do costs a second.
   */
  | 'every-deploy'
  /** Only when the content hash of migrations and seeds changes. */
  | 'content-change';

/** Deadlines. Each is also capped at run time by what is left of the Lambda invocation. */
export interface MigrationTimeouts {
  /**
   * Lambda timeout of the migrator; every deadline below lives inside it, so CloudFormation always gets an answer.
   * @default Duration.minutes(14)
   */
  readonly function?: Duration;
  /**
   * Connecting to the database, across retries (a fresh or paused instance can be slow to accept connections).
   * @default Duration.seconds(60)
   */
  readonly connect?: Duration;
  /**
   * Waiting for the migration advisory lock held by another run.
   * @default Duration.minutes(2)
   */
  readonly lockWait?: Duration;
  /**
   * `lock_timeout` for each migration statement (waiting for table locks held by the application).
   * @default Duration.seconds(10)
   */
  readonly lock?: Duration;
  /**
   * `statement_timeout` for each migration statement.
   * @default Duration.minutes(10)
   */
  readonly statement?: Duration;
}

export interface DatabaseMigrationsProps {
  /**
   * The database to migrate: an RDS instance or an Aurora cluster. For a cluster the secret's host is
   * the writer endpoint (migrations never go through RDS Proxy: advisory locks pin connections).
   */
  readonly database: rds.IDatabaseInstance | rds.IDatabaseCluster;
  /**
   * The RDS-shaped secret (JSON: host, port, username, password, dbname) the migrator connects with.
   * Read at every invocation, so rotation needs no redeploy.
   */
  readonly databaseSecret: secretsmanager.ISecret;
  /** VPC the migrator function runs in (the database's VPC). */
  readonly vpc: ec2.IVpc;
  /**
   * Subnets of the migrator functions. They must reach the database, and Secrets Manager (and KMS with
   * seeds): through interface endpoints in isolated subnets (see `endpoints`), or through a NAT.
   * @default the VPC's isolated subnets if it has any, else its private subnets with egress (as
   *   `new ec2.Vpc(this, 'Vpc')` makes them); a VPC with neither fails the synth asking for `vpcSubnets`
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * Interface endpoints the functions need in isolated subnets: Secrets Manager and CloudFormation always
   * (the rollback check reads the stack's status without the database), KMS with seeds.
   * `'check'` fails the synth when a VPC of this app lacks one (an imported VPC gets a warning), `'create'`
   * adds the missing ones, `'none'` trusts the network. Subnets with egress are never checked.
   * @default 'check'
   */
  readonly endpoints?: EndpointMode;
  /**
   * Run-history table (`schema.table`) the engine creates and records every run in.
   * @default 'public.migration_runs'
   */
  readonly runsTable?: string;
  /**
   * Security groups of the migrator function. The database's security group is opened to them on the
   * database's default port.
   * @default one new security group with outbound allowed
   */
  readonly securityGroups?: ec2.ISecurityGroup[];
  /** Migrations folder (node-pg-migrate format: `NNNN_name.sql` / `NNNN_name.ts`), absolute or relative to the working directory. */
  readonly migrationsDir: string;
  /**
   * Seeds folder (any schema: its seed.config.yaml says which tables the seeds write; without one, the
   * built-in model of this package's schema); omit for a database without seeds.
   * @default no seeding step
   */
  readonly seedsDir?: string;
  /** Stage name (`staging`, `prod`, ...), recorded in every `migration_runs` row and log line. */
  readonly stage: string;
  /**
   * Customer-managed key that seeds encrypt tenant secrets with (`kms:Encrypt` is granted on this key only).
   * @default no KMS permission (seeds that encrypt will fail)
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * Encryption-context keys seeds are allowed to use; `kms:Encrypt` is conditioned on them
   * (`ForAllValues:StringEquals kms:EncryptionContextKeys`) and a context is required. An override: by
   * default they are read from the seed model of `seedsDir` (its providerSecret `context:` keys and
   * secret leaves' `tenant`/`purpose`), so IAM follows what the seeder sends.
   * @default the seed model's context keys (['tenant', 'purpose'] for this package's schema)
   */
  readonly encryptionContextKeys?: string[];
  /**
   * Secrets Manager name prefix under which the function may create and write tenant secrets
   * (seeds' `<secretPrefix>/tenants/<slug>/api-key`).
   * @default `migrator/${stage}/tenants/`
   */
  readonly tenantSecretPrefix?: string;
  /**
   * This database's segment in the names of new tenant API-key secrets:
   * `<tenantSecretPrefix><secretNamespace>/<slug>/api-key`. Needed when several DatabaseMigrations of one
   * app share a tenant secret prefix (e.g. two databases of one stage): a synth error says so. Keys already
   * stored keep their names (the seed never regenerates a key), so adding it orphans nothing.
   * @default none: `<tenantSecretPrefix><slug>/api-key` (the names of a single-construct deployment)
   */
  readonly secretNamespace?: string;
  /**
   * Secrets Manager name prefix of the provider (LLM) secrets the seeds reference; read only.
   * @default `migrator/${stage}/llm/`
   */
  readonly providerSecretPrefix?: string;
  /**
   * Customer-managed key the provider secrets are encrypted with, if not the account's `aws/secretsmanager`
   * key: `kms:Decrypt` is then granted through Secrets Manager only, for secrets under the provider prefix.
   * @default none (provider secrets use the AWS managed key)
   */
  readonly providerSecretsKey?: kms.IKey;
  /**
   * A protected stage refuses destructive operations (reseed, reset, down) whoever invokes them.
   * @default true for a stage named `prod` or `production`
   */
  readonly protectedStage?: boolean;
  /** Deadlines; see {@link MigrationTimeouts}. */
  readonly timeouts?: MigrationTimeouts;
  /**
   * When the custom resource runs.
   * @default 'every-deploy'
   */
  readonly runOn?: RunOn;
  /**
   * Log group retention of the migrator functions.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Explicit name of the on-demand operations function (so `migrator invoke --stage S` finds it without
   * a stack lookup). Must be unique per account and region.
   * @default a CloudFormation-generated name (exported as a stack output)
   */
  readonly operationsFunctionName?: string;
  /**
   * CloudWatch metrics namespace for the EMF metrics.
   * @default 'PgTenantMigrator'
   */
  readonly metricsNamespace?: string;
}

/** Defaults, shared with the sample app and tests. */
export const MIGRATION_DEFAULTS = {
  function: Duration.minutes(14),
  connect: Duration.seconds(60),
  lockWait: Duration.minutes(2),
  lock: Duration.seconds(10),
  statement: Duration.minutes(10),
  metricsNamespace: 'PgTenantMigrator',
} as const;
