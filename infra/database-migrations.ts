/**
 * `DatabaseMigrations`: runs the project's migrations and tenant seeds as a CloudFormation custom resource,
 * so `cdk deploy` brings the database schema up before anything that depends on it changes.
 *
 * One construct per database (several instances in one app work: every name below is scoped to the
 * construct). Other constructs declare `node.addDependency(migrations)` to deploy after the schema.
 */
import { ArnFormat, CfnOutput, CustomResource, Duration, Names, Stack, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct, Dependable } from 'constructs';
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { stagedCode } from './asset/stage.ts';
import { contentHash } from './content-hash.ts';
import { defaultSubnets, requireEndpoints, type EndpointMode } from './network.ts';
import { protectedByName } from '../functions/core/protected-stage.ts';

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
   * Interface endpoints the functions need in isolated subnets: Secrets Manager always, KMS with seeds.
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
   * Seeds folder; omit for a database without seeds.
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
   * (`ForAllValues:StringEquals kms:EncryptionContextKeys`) and a context is required.
   * @default ['tenant', 'purpose']
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

export class DatabaseMigrations extends Construct {
  /** The custom resource; depend on it (or on this construct) to deploy after the schema. */
  readonly resource: CustomResource;
  /** Function behind the custom resource. */
  readonly migratorFunction: lambda.Function;
  /** On-demand operations function (status, plan, migrate, seed, reseed, runs). */
  readonly operationsFunction: lambda.Function;
  /** Log group the on-demand operations function writes to. */
  readonly logGroup: logs.LogGroup;
  /**
   * Log group of the deploy-time function: its default `/aws/lambda/<function name>`, created here with the
   * retention, because that is the group the Provider framework names in every failure reason
   * (`Logs: /aws/lambda/<function>`), so the pointer CloudFormation shows always exists.
   */
  readonly deployLogGroup: logs.LogGroup;
  /** Both log groups (deploy-time and on-demand runs), for queries and dashboards. */
  readonly logGroups: logs.ILogGroup[];
  /** Content hash of migrations + seeds in this synth. */
  readonly contentHash: string;
  /** Metrics namespace used by the functions' EMF output. */
  readonly metricsNamespace: string;
  readonly stage: string;

  constructor(scope: Construct, id: string, props: DatabaseMigrationsProps) {
    super(scope, id);
    const migrationsDir = absolute(props.migrationsDir);
    const seedsDir = props.seedsDir ? absolute(props.seedsDir) : undefined;
    if (!existsSync(migrationsDir)) throw new Error(`DatabaseMigrations ${this.node.path}: migrationsDir ${migrationsDir} does not exist`);
    if (seedsDir && !existsSync(seedsDir)) throw new Error(`DatabaseMigrations ${this.node.path}: seedsDir ${seedsDir} does not exist`);

    validateProps(this.node.path, props);
    claimSecretNames(this, props.tenantSecretPrefix ?? `migrator/${props.stage}/tenants/`, props.secretNamespace);
    const runOn: RunOn = props.runOn ?? 'every-deploy';
    const protectedStage = props.protectedStage ?? protectedByName(props.stage);
    const t = { ...MIGRATION_DEFAULTS, ...dropUndefined(props.timeouts ?? {}) };
    const tenantPrefix = props.tenantSecretPrefix ?? `migrator/${props.stage}/tenants/`;
    const providerPrefix = props.providerSecretPrefix ?? `migrator/${props.stage}/llm/`;
    this.metricsNamespace = props.metricsNamespace ?? MIGRATION_DEFAULTS.metricsNamespace;
    this.stage = props.stage;

    const vpcSubnets = props.vpcSubnets ?? defaultSubnets(props.vpc, this.node.path);
    requireEndpoints(this, { vpc: props.vpc, subnets: vpcSubnets, seeds: Boolean(seedsDir), mode: props.endpoints ?? 'check' });

    const content = contentHash(migrationsDir, seedsDir);
    this.contentHash = content.hash;

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
    });

    const securityGroups = props.securityGroups ?? [
      new ec2.SecurityGroup(this, 'SecurityGroup', {
        vpc: props.vpc,
        description: `Migrator functions of ${this.node.path}`,
        allowAllOutbound: true,
      }),
    ];

    const environment: Record<string, string> = {
      STAGE: props.stage,
      PROTECTED_STAGE: String(protectedStage),
      DB_SECRET_ARN: props.databaseSecret.secretArn,
      // Node 20+ Lambda runtimes do not trust the RDS CA unless told to; the runtime ships the bundle here.
      NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
      DB_TLS: 'verify-full',
      CONNECT_TIMEOUT_MS: String(t.connect.toMilliseconds()),
      LOCK_WAIT_TIMEOUT_MS: String(t.lockWait.toMilliseconds()),
      LOCK_TIMEOUT_MS: String(t.lock.toMilliseconds()),
      STATEMENT_TIMEOUT_MS: String(t.statement.toMilliseconds()),
      TENANT_SECRET_PREFIX: tenantPrefix,
      ...(props.secretNamespace ? { TENANT_SECRET_NAMESPACE: props.secretNamespace } : {}),
      PROVIDER_SECRET_PREFIX: providerPrefix,
      POWERTOOLS_SERVICE_NAME: 'migrator',
      POWERTOOLS_METRICS_NAMESPACE: this.metricsNamespace,
      SEEDS_ENABLED: String(Boolean(seedsDir)),
    };
    if (props.encryptionKey) environment.KMS_KEY_ARN = props.encryptionKey.keyArn;
    if (props.runsTable) environment.RUNS_TABLE = props.runsTable;

    // One asset for both functions: the handler bundle prebuilt with the package (one file, two exports)
    // plus this app's migrations and seeds. CDK's local bundling stages it at synth (only for stacks being
    // synthesized), with no Docker, no lock file and no bundler run over our sources.
    const code = stagedCode({ migrationsDir, seedsDir, hash: content.hash });

    const common = {
      code,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 512,
      timeout: t.function,
      vpc: props.vpc,
      vpcSubnets,
      securityGroups,
      environment,
      logGroup: this.logGroup,
      tracing: lambda.Tracing.DISABLED,
    } satisfies Omit<lambda.FunctionProps, 'handler'>;

    const { logGroup: _shared, ...deployCommon } = common;
    // Construct ids unchanged since the NodejsFunction days, so deployed stacks keep their logical ids.
    this.migratorFunction = new lambda.Function(this, 'Migrator', {
      ...deployCommon,
      handler: 'index.onEvent',
      description: `Deploy-time migrations and seeds (${props.stage})`,
    });
    const retention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;
    // Apps with the `@aws-cdk/aws-lambda:useCdkManagedLogGroup` flag (every `cdk init` app since 2.2xx) get
    // that group from the function itself: adopt it (a second group of the same name fails the synth).
    const managed = this.migratorFunction.node.tryFindChild('LogGroup');
    if (managed instanceof logs.LogGroup) {
      (managed.node.defaultChild as logs.CfnLogGroup).retentionInDays = retention === logs.RetentionDays.INFINITE ? undefined : retention;
      this.deployLogGroup = managed;
    } else {
      this.deployLogGroup = new logs.LogGroup(this, 'DeployLogs', {
        logGroupName: `/aws/lambda/${this.migratorFunction.functionName}`,
        retention,
      });
    }
    this.logGroups = [this.deployLogGroup, this.logGroup];
    this.operationsFunction = new lambda.Function(this, 'Operations', {
      ...common,
      handler: 'index.operations',
      functionName: props.operationsFunctionName,
      description: `On-demand migrator operations (${props.stage})`,
    });

    // A rollback is recognised from the stack's own status, without the database: read this stack only.
    // (In isolated subnets this needs a CloudFormation interface endpoint, like Secrets Manager and KMS.)
    this.migratorFunction.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'ReadOwnStackStatus', actions: ['cloudformation:DescribeStacks'], resources: [Stack.of(this).stackId] }),
    );

    for (const fn of [this.migratorFunction, this.operationsFunction]) {
      props.databaseSecret.grantRead(fn);
      // Seed permissions only when there are seeds: a database without them gets the database secret, nothing more.
      if (seedsDir) this.grantSeeding(fn, props, tenantPrefix, providerPrefix);
      props.database.connections.allowDefaultPortFrom(fn, `Migrator ${this.node.path}`);
      acknowledgeFunctionFindings(fn, seedsDir ? { tenantPrefix, providerPrefix } : undefined);
    }

    const provider = new cr.Provider(this, 'Provider', {
      onEventHandler: this.migratorFunction,
      logGroup: new logs.LogGroup(this, 'ProviderLogs', {
        retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      }),
    });
    acknowledgeProviderFindings(provider, this.migratorFunction);

    const properties: Record<string, string> = {
      Stage: props.stage,
      ContentHash: content.hash,
      MigrationCount: String(content.migrationFiles.length),
      SeedFileCount: String(content.seedFiles.length),
      RunOn: runOn,
      // Scoped to this construct so several instances in one app keep separate identities.
      ResourceName: Names.uniqueId(this),
    };
    // What a rollback answers as LastMigration when it cannot reach the database (the content it rolls back to).
    const lastMigration = content.migrationFiles.map((f) => f.replace(/\.(up\.sql|sql|ts|mts|cts|js|mjs|cjs)$/, '')).filter((n) => !n.endsWith('.down')).at(-1);
    if (lastMigration) properties.LastMigration = lastMigration;
    if (runOn === 'every-deploy') {
      // Changes on every synth so CloudFormation sends an Update on every deploy. Side effect, by design:
      // `cdk diff` always shows this property; it carries no content, only a time stamp.
      properties.DeployNonce = new Date().toISOString();
    }

    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::DatabaseMigrations',
      properties,
      // Never leave the stack waiting an hour: the function's own timeout plus the framework's margin.
      serviceTimeout: Duration.seconds(t.function.toSeconds() + 120),
    });
    // Never before the database (and its secret attachment) exist, nor before the log group the function
    // writes to (Lambda would otherwise create it without retention, and CloudFormation then fail to).
    this.resource.node.addDependency(props.database);
    this.resource.node.addDependency(this.deployLogGroup);

    // `x.node.addDependency(migrations)` means "after the schema": depend on the custom resource itself.
    const resource = this.resource;
    Dependable.implement(this, {
      get dependencyRoots() {
        return [resource];
      },
    });

    new CfnOutput(this, 'OperationsFunctionName', {
      value: this.operationsFunction.functionName,
      description: `migrator invoke target for stage ${props.stage} (${this.node.path})`,
    });
    new CfnOutput(this, 'LogGroupName', { value: this.logGroup.logGroupName, description: 'Logs of on-demand operations (migrator invoke)' });
    new CfnOutput(this, 'DeployLogGroupName', { value: this.deployLogGroup.logGroupName, description: 'Logs of deploy-time runs (the group a failure reason names)' });
  }

  private grantSeeding(fn: lambda.Function, props: DatabaseMigrationsProps, tenantPrefix: string, providerPrefix: string) {
    const stack = Stack.of(this);
    const secretArn = (prefix: string) =>
      stack.formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: `${prefix}*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });

    if (props.encryptionKey) {
      const contextKeys = props.encryptionContextKeys ?? ['tenant', 'purpose'];
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

  /** Metric of failed runs (EMF, published by the handlers), for alarms and dashboards. */
  metricFailures(period = Duration.minutes(5)) {
    return this.metric('Failures', 'Sum', period);
  }

  metric(name: 'Runs' | 'Failures' | 'MigrationsApplied' | 'SeedRowsChanged' | 'DurationMs', statistic: string, period = Duration.minutes(5)) {
    return new cloudwatch.Metric({
      namespace: this.metricsNamespace,
      metricName: name,
      dimensionsMap: { service: 'migrator', stage: this.stage },
      statistic,
      period,
    });
  }
}

/** Bad props fail the synth with a message naming the construct and the prop. */
function validateProps(path: string, props: DatabaseMigrationsProps) {
  const fail = (msg: string) => {
    throw new Error(`DatabaseMigrations ${path}: ${msg}`);
  };
  if (!/^[a-z][a-z0-9-]{0,31}$/.test(props.stage)) fail(`stage "${props.stage}" must be lowercase letters, digits and dashes (it goes into names and secret prefixes)`);
  if (props.runOn && !['every-deploy', 'content-change'].includes(props.runOn)) fail(`runOn "${props.runOn}" must be 'every-deploy' or 'content-change'`);
  const t = props.timeouts ?? {};
  const fn = (t.function ?? MIGRATION_DEFAULTS.function).toSeconds();
  if (fn > 900) fail(`timeouts.function is ${fn} s; a Lambda invocation ends at 900 s (longer work needs an async isComplete handler)`);
  if (fn < 60) fail(`timeouts.function is ${fn} s; at least 60 s are needed to connect, migrate and answer CloudFormation`);
  for (const k of ['connect', 'lockWait', 'lock', 'statement'] as const) {
    const v = t[k];
    if (v && v.toSeconds() >= fn) fail(`timeouts.${k} (${v.toSeconds()} s) must be shorter than timeouts.function (${fn} s)`);
  }
  if (props.secretNamespace !== undefined && !/^[a-z0-9][a-z0-9-]{0,62}$/.test(props.secretNamespace)) {
    fail(`secretNamespace "${props.secretNamespace}" must be lowercase letters, digits and dashes (one segment of a secret name)`);
  }
  for (const [k, v] of [['tenantSecretPrefix', props.tenantSecretPrefix], ['providerSecretPrefix', props.providerSecretPrefix]] as const) {
    if (v !== undefined && (!v.endsWith('/') || v.includes('*'))) fail(`${k} "${v}" must end with "/" and contain no wildcard`);
  }
}

/** Tenant secret names claimed per app: `<prefix>|<namespace>` -> construct path. */
const claimedSecretNames = new WeakMap<Construct, Map<string, string>>();

/** Two constructs of one app whose tenant API-key secrets would have the same names fail the synth. */
function claimSecretNames(c: Construct, tenantPrefix: string, namespace: string | undefined) {
  const root = c.node.root;
  const claimed = claimedSecretNames.get(root) ?? new Map<string, string>();
  claimedSecretNames.set(root, claimed);
  const key = `${tenantPrefix}|${namespace ?? ''}`;
  const other = claimed.get(key);
  if (other) {
    throw new Error(
      `DatabaseMigrations ${c.node.path}: its tenant API-key secrets would have the same names as those of ${other} ` +
        `(${tenantPrefix}${namespace ? `${namespace}/` : ''}<slug>/api-key), so seeding one database would overwrite the other's keys. ` +
        'Give one of them a distinct secretNamespace (or tenantSecretPrefix); keep the existing one unchanged so its stored keys keep their names.',
    );
  }
  claimed.set(key, c.node.path);
}

function absolute(p: string) {
  return isAbsolute(p) ? p : resolve(process.cwd(), p);
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** How cdk-nag renders an ARN part: the literal when known at synth, `<AWS::X>` for a pseudo parameter. */
function nagPart(value: string, pseudo: string) {
  return Token.isUnresolved(value) ? `<AWS::${pseudo}>` : value;
}

/** cdk-nag findings on the migrator functions that are deliberate; each says why. Prefixes: only with seeds. */
function acknowledgeFunctionFindings(fn: lambda.Function, prefixes?: { tenantPrefix: string; providerPrefix: string }) {
  const role = fn.role!;
  const stack = Stack.of(fn);
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    reason: "AWS managed policy limited to writing the function's own CloudWatch Logs; the log group is created by this construct.",
  });
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
    reason: 'AWS managed policy required for a VPC-attached Lambda to manage its network interfaces.',
  });
  if (!prefixes) return;
  const arnBase = `arn:${nagPart(stack.partition, 'Partition')}:secretsmanager:${nagPart(stack.region, 'Region')}:${nagPart(stack.account, 'AccountId')}:secret:`;
  Validations.of(role).acknowledge({
    id: `AwsSolutions-IAM5[Resource::${arnBase}${prefixes.tenantPrefix}*]`,
    reason: 'Tenant secrets are created by the seeds at run time with names under this fixed prefix; the wildcard covers only that prefix (and the random suffix Secrets Manager appends).',
  });
  Validations.of(role).acknowledge({
    id: `AwsSolutions-IAM5[Resource::${arnBase}${prefixes.providerPrefix}*]`,
    reason: 'Provider secrets referenced by the seeds live under this fixed prefix; read-only, and the wildcard also covers the random suffix Secrets Manager appends to secret ARNs.',
  });
}

function acknowledgeProviderFindings(provider: cr.Provider, onEvent: lambda.Function) {
  // The framework's own function and role are defined inside aws-cdk-lib; acknowledge on the provider scope.
  Validations.of(provider).acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    reason: 'CDK Provider framework function: AWS managed policy limited to its own CloudWatch Logs.',
  });
  const fnLogicalId = Stack.of(onEvent).getLogicalId(onEvent.node.defaultChild as lambda.CfnFunction);
  Validations.of(provider).acknowledge({
    id: `AwsSolutions-IAM5[Resource::<${fnLogicalId}.Arn>:*]`,
    reason: 'CDK Provider framework: invoke permission on the migrator function and its versions/aliases (the :* suffix), nothing else.',
  });
}
