/**
 * `DatabaseFleetMigrations`: one schema change to many databases (database per tenant, shards) in one
 * deploy, on Step Functions. A state machine lists the targets when it starts, migrates a canary wave, then
 * the rest, each target one item of a Distributed Map running the same migrator core (`runJob`) in a worker
 * Lambda with today's per-target deadlines. Every target's outcome goes to a DynamoDB ledger per execution.
 * A custom resource starts an execution on deploy and (by default) waits for it through the Provider
 * framework's asynchronous isComplete, failing the deploy when the canary fails or the tolerance is exceeded.
 *
 *   ListTargets -> CanaryWave (Map, tolerates 0) -> RestWave (Map, tolerance) -> Summarize -> ok? Succeed : Fail
 *                      \ catch -> CanaryFailed -----------\ catch -> RestFailed -> Summarize
 *
 * Each Map item: MigrateTarget (Lambda) -> LongRunning? -- pending long-running migrations --> MigrateTargetInCodeBuild
 * (codebuild:startBuild.sync: the same per-target core, `node build.mjs up`, without the 15-minute limit).
 */
import { ArnFormat, CfnOutput, CustomResource, Duration, Names, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { contentHash } from '../content-hash.ts';
import type { DatabaseMigrationsProps, MigrationTimeouts } from '../database-migrations.ts';
import { grantSeeding } from '../database-migrations/grants.ts';
import { acknowledgeSeedingGrants } from '../database-migrations/nag.ts';
import { stagedAssetOptions, stagedCode } from '../asset/stage.ts';
import { databaseEnvironment } from '../database-env.ts';
import { acknowledgeLambdaPolicies, functionAndVersions, nagArn, secretsUnderPrefix, wildcardFinding } from '../nag.ts';

/**
 * Which databases an execution migrates, read when it starts. Choose:
 * - `secretNamePrefix` when each tenant database gets its secret from your provisioning code under a fixed
 *   prefix (the IAM grant is that prefix, nothing wider): new tenants join without a deploy;
 * - `secretTag` when the secrets' names are not yours to choose (RDS-managed secrets, other teams): the
 *   grant is conditioned on the tag;
 * - `static` for a small, fixed set known to the app (shards), or the secrets this app itself creates.
 * They combine; a target name must be unique across them.
 */
export interface FleetTargetsProps {
  /** Secrets under this prefix (ending in '/'); target name = the rest of the secret's name. */
  readonly secretNamePrefix?: string;
  /** Secrets carrying this tag (and value); target name = tag `nameTag`, else the secret's name. */
  readonly secretTag?: { readonly key: string; readonly value?: string };
  /** @default 'migrator:target' */
  readonly nameTag?: string;
  /** Fixed targets. */
  readonly static?: ReadonlyArray<{ readonly name: string; readonly secret: secretsmanager.ISecret }>;
  /**
   * Customer-managed key the target secrets are encrypted with, if not `aws/secretsmanager`: decrypt is
   * granted through Secrets Manager only.
   * @default none
   */
  readonly secretsKey?: kms.IKey;
}

/** Waves: the canary runs first; the rest starts only when every canary target passed. */
export interface CanaryProps {
  /** Named canary targets (each must exist when the execution starts). */
  readonly targets?: string[];
  /**
   * Else the first `count` targets in name order (byte order of the target names). 0: no canary wave.
   * @default 1
   */
  readonly count?: number;
}

export type FleetOnDeploy =
  /** The deploy waits for the execution (up to `deployWait`) and fails with its reason. The default. */
  | 'wait'
  /** The deploy starts the execution and goes on (post-deploy migrations); the alarm reports failures. */
  | 'after-deploy'
  /** No custom resource: executions start only by hand (`migrator invoke fleet`) or from your own pipeline. */
  | 'none';

/**
 * The runner for long-running migrations (`-- migrator:long-running` in SQL, `export const longRunning = true`
 * in TypeScript/JavaScript): a CodeBuild project whose source is this fleet's staged asset (S3; no container
 * image, no Docker), running `node build.mjs up` for one target per build through Step Functions'
 * `codebuild:startBuild.sync`, in the same Map item (canary and tolerance count it as any target).
 */
export interface LongRunningProps {
  /**
   * Longest one target's build may run (CodeBuild's build timeout, at most 36 hours); the run's own hard
   * stop is 5 minutes earlier (provisioning and the install phase), so its failure is still recorded.
   * @default Duration.hours(8)
   */
  readonly timeout?: Duration;
  /**
   * `statement_timeout` of the build's migration statements.
   * @default the build's budget (timeout minus 5 minutes)
   */
  readonly statementTimeout?: Duration;
  /** @default codebuild.ComputeType.SMALL */
  readonly computeType?: codebuild.ComputeType;
  /**
   * PEM bundle the build downloads in its install phase to verify the database's certificate (TLS
   * verify-full; CodeBuild images do not carry the RDS CAs that Lambda's runtime does). The build's subnets
   * need a route to it (NAT), or give a URL they can reach (an S3 object through the S3 gateway endpoint).
   * @default 'https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem'
   */
  readonly caBundleUrl?: string;
}

/**
 * Seeding each target after its migrations, with the same `seed()` as DatabaseMigrations. Each target's
 * new tenant API-key secrets get the target's name as their namespace segment
 * (`<tenantSecretPrefix><target>/<slug>/api-key`), so two targets' tenants never share a secret.
 */
export interface FleetSeedingProps extends Pick<DatabaseMigrationsProps, 'encryptionKey' | 'encryptionContextKeys' | 'providerSecretsKey'> {
  /**
   * Which of the stage's tenants (seeds/stages.yaml) each target gets: `all` of them (shards, or reference
   * data every database holds), or only the tenant whose slug is the target's name (database per tenant).
   * @default 'all'
   */
  readonly tenants?: 'all' | 'target';
  /** @default `migrator/${stage}/tenants/` */
  readonly tenantSecretPrefix?: string;
  /** @default `migrator/${stage}/llm/` */
  readonly providerSecretPrefix?: string;
}

export interface DatabaseFleetMigrationsProps {
  /** Stage name, recorded in every target's `migration_runs` row and every log line. */
  readonly stage: string;
  /** Migrations folder, the same for every target. */
  readonly migrationsDir: string;
  /**
   * Seeds folder: every target is seeded after its migrations (see `seeding`).
   * @default no seeding step
   */
  readonly seedsDir?: string;
  /** How targets are seeded (with `seedsDir`). */
  readonly seeding?: FleetSeedingProps;
  readonly targets: FleetTargetsProps;
  /** VPC of the worker function (where the databases are). */
  readonly vpc: ec2.IVpc;
  /** @default { subnetType: ec2.SubnetType.PRIVATE_ISOLATED } */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** @default one new security group */
  readonly securityGroups?: ec2.ISecurityGroup[];
  /** Database servers the targets live on: their security groups are opened to the worker on the default port. */
  readonly databases?: ReadonlyArray<rds.IDatabaseInstance | rds.IDatabaseCluster>;
  /**
   * Targets migrated at the same time (the Map's MaxConcurrency).
   *
   * @default 10. Each running item is one Lambda invocation holding one connection (two for a moment when the
   * deadline watchdog cancels). Tenant databases usually share a server: a db.t4g.micro allows about 80
   * connections in total (RDS max_connections ≈ memory / 9.5 MB) and the application needs most of them;
   * 10 also takes only 1% of the default Lambda account concurrency (1,000, shared with the application).
   * Raise it with the servers' connection headroom and a reserved concurrency in mind.
   */
  readonly maxConcurrency?: number;
  /** Failed targets of the rest wave the execution tolerates, in percent. @default 0 */
  readonly toleratedFailurePercentage?: number;
  /** Failed targets of the rest wave the execution tolerates, as a count. @default 0 */
  readonly toleratedFailureCount?: number;
  /** @default { count: 1 } */
  readonly canary?: CanaryProps;
  /** Per-target deadlines, as for DatabaseMigrations (the worker's Lambda timeout and the waits inside it). */
  readonly timeouts?: MigrationTimeouts;
  /** @default 'wait' */
  readonly onDeploy?: FleetOnDeploy;
  /**
   * How long a deploy waits for the execution ('wait'). CloudFormation waits at most one hour for a
   * custom resource, the Provider's polling needs a margin, so at most 55 minutes.
   * @default Duration.minutes(45)
   */
  readonly deployWait?: Duration;
  /** Longest an execution may run. @default Duration.hours(24) */
  readonly executionTimeout?: Duration;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
  /** Explicit state machine name (so `migrator invoke fleet --stage S` can find it). @default generated */
  readonly stateMachineName?: string;
  /** Explicit ledger table name. @default generated */
  readonly ledgerTableName?: string;
  /** @default RemovalPolicy.RETAIN */
  readonly ledgerRemovalPolicy?: RemovalPolicy;
  /** Days a ledger entry is kept (DynamoDB TTL). @default 90 */
  readonly ledgerRetentionDays?: number;
  /** @default 'PgTenantMigrator' */
  readonly metricsNamespace?: string;
  /**
   * Long-running migrations: where they run. `false`: no CodeBuild project; a target with a pending
   * long-running migration then fails with a reason saying so (nothing is changed on it).
   * @default {} (a CodeBuild project with the defaults of LongRunningProps)
   */
  readonly longRunning?: LongRunningProps | false;
}

export const FLEET_DEFAULTS = {
  maxConcurrency: 10,
  canaryCount: 1,
  function: Duration.minutes(14),
  connect: Duration.seconds(60),
  lockWait: Duration.minutes(2),
  lock: Duration.seconds(10),
  statement: Duration.minutes(10),
  deployWait: Duration.minutes(45),
  maxDeployWait: Duration.minutes(55),
  executionTimeout: Duration.hours(24),
  metricsNamespace: 'PgTenantMigrator',
  ledgerRetentionDays: 90,
  longRunningTimeout: Duration.hours(8),
  /** Kept back from the build's timeout: provisioning, the source download and the install phase. */
  longRunningMargin: Duration.minutes(5),
  caBundleUrl: 'https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem',
  /** Days an execution's target lists are kept (they are needed while it runs; an execution runs at most 24 h by default). */
  targetListDays: 14,
} as const;

export type FleetMetricName =
  | 'FleetExecutions'
  | 'FleetExecutionsFailed'
  | 'FleetTargetsSucceeded'
  | 'FleetTargetsFailed'
  | 'FleetTargetsSkipped'
  | 'FleetDurationMs';

export class DatabaseFleetMigrations extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly ledger: dynamodb.Table;
  /** Each execution's target lists (one JSON array per wave, read by the Maps' ItemReader). */
  readonly targetLists: s3.Bucket;
  readonly workerFunction: lambda.Function;
  readonly listFunction: lambda.Function;
  readonly summaryFunction: lambda.Function;
  /** The CodeBuild project long-running targets run in (undefined with longRunning: false). */
  readonly longRunningProject?: codebuild.Project;
  readonly logGroup: logs.LogGroup;
  /** The deploy custom resource (undefined with onDeploy 'none'). */
  readonly resource?: CustomResource;
  readonly stage: string;
  readonly fleetName: string;
  readonly metricsNamespace: string;
  readonly maxConcurrency: number;

  constructor(scope: Construct, id: string, props: DatabaseFleetMigrationsProps) {
    super(scope, id);
    const abs = (dir: string) => (isAbsolute(dir) ? dir : resolve(process.cwd(), dir));
    const migrationsDir = abs(props.migrationsDir);
    if (!existsSync(migrationsDir)) throw new Error(`DatabaseFleetMigrations ${this.node.path}: migrationsDir ${migrationsDir} does not exist`);
    const seedsDir = props.seedsDir === undefined ? undefined : abs(props.seedsDir);
    if (seedsDir && !existsSync(seedsDir)) throw new Error(`DatabaseFleetMigrations ${this.node.path}: seedsDir ${seedsDir} does not exist`);
    validate(this.node.path, props);
    const stack = Stack.of(this);
    const t = { ...FLEET_DEFAULTS, ...Object.fromEntries(Object.entries(props.timeouts ?? {}).filter(([, v]) => v !== undefined)) };
    this.stage = props.stage;
    this.fleetName = Names.uniqueId(this);
    this.metricsNamespace = props.metricsNamespace ?? FLEET_DEFAULTS.metricsNamespace;
    this.maxConcurrency = props.maxConcurrency ?? FLEET_DEFAULTS.maxConcurrency;
    const onDeploy = props.onDeploy ?? 'wait';
    const content = contentHash(migrationsDir, seedsDir);
    const retention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;

    this.logGroup = new logs.LogGroup(this, 'Logs', { retention });

    this.ledger = new dynamodb.Table(this, 'Ledger', {
      tableName: props.ledgerTableName,
      partitionKey: { name: 'executionId', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'target', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'expiresAt',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: props.ledgerRemovalPolicy ?? RemovalPolicy.RETAIN,
    });

    // The lists travel through S3, not the execution's state (256 KiB, about 2,000 targets inline). They
    // hold target names and secret ARNs only, and are only needed while their execution runs.
    this.targetLists = new s3.Bucket(this, 'TargetLists', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ expiration: Duration.days(FLEET_DEFAULTS.targetListDays) }],
      removalPolicy: props.ledgerRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    Validations.of(this.targetLists).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'Transient per-execution target lists (names and secret ARNs, no values), written by the list step and read by the state machine; they expire after two weeks. Access is by these two roles only; CloudTrail records the API calls.',
    });

    const common: Omit<lambda.FunctionProps, 'handler'> = {
      // The fleet handlers prebuilt with the package, staged at synth with this fleet's migrations.
      code: stagedCode({ migrationsDir, seedsDir, hash: content.hash, bundle: 'fleet' }),
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 512,
      logGroup: this.logGroup,
      tracing: lambda.Tracing.DISABLED,
    };
    const powertools = { POWERTOOLS_SERVICE_NAME: 'migrator-fleet', POWERTOOLS_METRICS_NAMESPACE: this.metricsNamespace, STAGE: props.stage };

    const seedPrefixes = seedsDir
      ? { tenantPrefix: props.seeding?.tenantSecretPrefix ?? `migrator/${props.stage}/tenants/`, providerPrefix: props.seeding?.providerSecretPrefix ?? `migrator/${props.stage}/llm/` }
      : undefined;
    const seedEnv: Record<string, string> = seedsDir
      ? { SEEDS_ENABLED: 'true', SEED_TENANTS: props.seeding?.tenants ?? 'all', ...(props.seeding?.encryptionKey ? { KMS_KEY_ARN: props.seeding.encryptionKey.keyArn } : {}) }
      : {};

    this.workerFunction = new lambda.Function(this, 'Worker', {
      ...common,
      handler: 'index.fleetWorker',
      description: `Fleet migrations: one target per invocation (${props.stage})`,
      timeout: t.function,
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: props.securityGroups ?? [
        new ec2.SecurityGroup(this, 'WorkerSecurityGroup', { vpc: props.vpc, description: `Fleet migrator worker of ${this.node.path}`, allowAllOutbound: true }),
      ],
      environment: {
        ...powertools,
        LEDGER_TABLE: this.ledger.tableName,
        LEDGER_RETENTION_DAYS: String(props.ledgerRetentionDays ?? FLEET_DEFAULTS.ledgerRetentionDays),
        ...databaseEnvironment(t),
        LONG_RUNNING: props.longRunning === false ? 'off' : 'codebuild',
        ...seedEnv,
      },
    });
    this.ledger.grantWriteData(this.workerFunction);
    for (const db of props.databases ?? []) db.connections.allowDefaultPortFrom(this.workerFunction, `Fleet migrator ${this.node.path}`);

    const src = props.targets;
    this.listFunction = new lambda.Function(this, 'ListTargets', {
      ...common,
      handler: 'index.fleetListTargets',
      description: `Fleet migrations: list targets (${props.stage})`,
      timeout: Duration.minutes(2),
      environment: {
        ...powertools,
        TARGETS_STATIC: stack.toJsonString((src.static ?? []).map((s) => ({ name: s.name, secretId: s.secret.secretArn }))),
        ...(src.secretNamePrefix ? { TARGET_SECRET_PREFIX: src.secretNamePrefix } : {}),
        ...(src.secretTag ? { TARGET_TAG_KEY: src.secretTag.key, ...(src.secretTag.value !== undefined ? { TARGET_TAG_VALUE: src.secretTag.value } : {}) } : {}),
        ...(src.nameTag ? { TARGET_NAME_TAG: src.nameTag } : {}),
        CANARY_NAMES: (props.canary?.targets ?? []).join(','),
        CANARY_COUNT: String(props.canary?.count ?? FLEET_DEFAULTS.canaryCount),
        TARGETS_BUCKET: this.targetLists.bucketName,
      },
    });
    this.listFunction.addToRolePolicy(new iam.PolicyStatement({ sid: 'WriteTargetLists', actions: ['s3:PutObject'], resources: [this.targetLists.arnForObjects('*')] }));
    this.summaryFunction = new lambda.Function(this, 'Summary', {
      ...common,
      handler: 'index.fleetSummary',
      description: `Fleet migrations: execution summary and metrics (${props.stage})`,
      timeout: Duration.minutes(2),
      environment: { ...powertools, LEDGER_TABLE: this.ledger.tableName, FLEET_NAME: this.fleetName },
    });
    this.ledger.grantReadData(this.summaryFunction);
    this.grantTargetSecrets(src, this.workerFunction);
    // The KMS context keys of the grant follow the seed model, as for DatabaseMigrations.
    const seedGrants = { ...(props.seeding ?? {}), seedsDir };
    if (seedPrefixes) grantSeeding(this.workerFunction, seedGrants, seedPrefixes.tenantPrefix, seedPrefixes.providerPrefix);
    if (props.longRunning !== false) {
      this.longRunningProject = this.longRunningRunner(props, props.longRunning ?? {}, { migrationsDir, seedsDir, hash: content.hash, t, retention, powertools: { ...powertools, ...seedEnv } });
      if (seedPrefixes) grantSeeding(this.longRunningProject, seedGrants, seedPrefixes.tenantPrefix, seedPrefixes.providerPrefix);
    }
    if (seedPrefixes) this.acknowledgeSeeding(seedPrefixes);

    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: props.stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(this.definition(props)),
      timeout: props.executionTimeout ?? FLEET_DEFAULTS.executionTimeout,
      tracingEnabled: true,
      logs: {
        destination: new logs.LogGroup(this, 'StateMachineLogs', { retention }),
        level: sfn.LogLevel.ALL,
        // State data carries only target names and secret ARNs, but the ledger is the place to read them.
        includeExecutionData: false,
      },
    });

    if (onDeploy !== 'none') this.resource = this.deployResource(props, content.hash, onDeploy, common, retention);

    new CfnOutput(this, 'FleetStateMachineArn', { value: this.stateMachine.stateMachineArn, description: `migrator invoke fleet --stage ${props.stage}` });
    new CfnOutput(this, 'FleetLedgerTableName', { value: this.ledger.tableName, description: `migrator fleet status --stage ${props.stage}` });
    this.acknowledgeFindings(src);
  }

  /** The state machine; see the file comment for its shape. */
  private definition(props: DatabaseFleetMigrationsProps): sfn.IChainable {
    const list = new tasks.LambdaInvoke(this, 'ListTargetsStep', {
      stateName: 'ListTargets',
      lambdaFunction: this.listFunction,
      payloadResponseOnly: true,
      // The execution's id names its lists in S3.
      payload: sfn.TaskInput.fromObject({ input: sfn.JsonPath.objectAt('$'), executionId: sfn.JsonPath.stringAt('$$.Execution.Id') }),
    });
    const wave = (name: 'canary' | 'rest', tolerance: { toleratedFailureCount?: number; toleratedFailurePercentage?: number }) => {
      const map = new sfn.DistributedMap(this, name === 'canary' ? 'CanaryWave' : 'RestWave', {
        stateName: name === 'canary' ? 'CanaryWave' : 'RestWave',
        comment: name === 'canary' ? 'Canary targets; any failure stops the execution before the rest.' : 'Every other target, within the tolerance.',
        // The wave's list in S3 (key from the list step): no item list in the state, whatever the fleet's size.
        itemReader: new sfn.S3JsonItemReader({ bucket: this.targetLists, key: sfn.JsonPath.stringAt(`$.${name}.key`) }),
        maxConcurrency: this.maxConcurrency,
        ...tolerance,
        itemSelector: {
          'target.$': '$$.Map.Item.Value',
          'executionId.$': '$$.Execution.Id',
          wave: name,
          'trigger.$': '$.trigger',
        },
        // Child executions run as long as a worker may (an Express child stops at 5 minutes).
        mapExecutionType: sfn.StateMachineType.STANDARD,
        // Results live in the ledger; keeping them out of the state keeps 10,000 items under 256 KiB.
        resultPath: sfn.JsonPath.DISCARD,
        label: name === 'canary' ? 'Canary' : 'Rest',
      });
      const prefix = name === 'canary' ? 'MigrateCanaryTarget' : 'MigrateTarget';
      const work = new tasks.LambdaInvoke(this, prefix, {
        stateName: prefix,
        lambdaFunction: this.workerFunction,
        payloadResponseOnly: true,
        // Lambda's own transient errors are retried (the default policy); a failed target (TargetFailed) is not.
        retryOnServiceExceptions: true,
        // Kept for the Choice below (`long-running`: hand the target to CodeBuild); the item's result is discarded by the Map.
        resultPath: '$.worker',
        resultSelector: { 'outcome.$': '$.outcome' },
      });
      work.addRetry({
        errors: ['Lambda.TooManyRequestsException'],
        interval: Duration.seconds(5),
        maxAttempts: 8,
        backoffRate: 2,
        maxDelay: Duration.minutes(2),
        jitterStrategy: sfn.JitterType.FULL,
      });
      if (!this.longRunningProject) {
        map.itemProcessor(work);
        return map;
      }
      // A target with pending long-running migrations runs in CodeBuild, still inside its Map item: its
      // failure fails the item (the build's exit code), so the canary and the tolerance count it.
      const override = (path: string) => ({ type: codebuild.BuildEnvironmentVariableType.PLAINTEXT, value: sfn.JsonPath.stringAt(path) });
      const build = new tasks.CodeBuildStartBuild(this, `${prefix}InCodeBuild`, {
        stateName: `${prefix}InCodeBuild`,
        project: this.longRunningProject,
        integrationPattern: sfn.IntegrationPattern.RUN_JOB,
        environmentVariablesOverride: {
          TARGET_NAME: override('$.target.name'),
          TARGET_SECRET_ID: override('$.target.secretId'),
          EXECUTION_ID: override('$.executionId'),
          WAVE: override('$.wave'),
          TRIGGER: override('$.trigger'),
        },
        resultPath: sfn.JsonPath.DISCARD,
      });
      // CodeBuild's concurrent-build quota: wait and start again (the target has not been touched yet).
      build.addRetry({
        errors: ['CodeBuild.AccountLimitExceededException'],
        interval: Duration.seconds(30),
        maxAttempts: 10,
        backoffRate: 2,
        maxDelay: Duration.minutes(5),
        jitterStrategy: sfn.JitterType.FULL,
      });
      const route = new sfn.Choice(this, `${prefix}LongRunning?`, { stateName: `${prefix}LongRunning?` })
        .when(sfn.Condition.stringEquals('$.worker.outcome', 'long-running'), build)
        .otherwise(new sfn.Succeed(this, `${prefix}Done`, { stateName: `${prefix}Done` }));
      map.itemProcessor(work.next(route));
      return map;
    };
    const canary = wave('canary', { toleratedFailureCount: 0 });
    const rest = wave('rest', {
      toleratedFailureCount: props.toleratedFailureCount ?? 0,
      ...(props.toleratedFailurePercentage !== undefined ? { toleratedFailurePercentage: props.toleratedFailurePercentage } : {}),
    });

    const summarize = new tasks.LambdaInvoke(this, 'SummarizeStep', {
      stateName: 'Summarize',
      lambdaFunction: this.summaryFunction,
      payloadResponseOnly: true,
      payload: sfn.TaskInput.fromObject({
        executionId: sfn.JsonPath.stringAt('$$.Execution.Id'),
        startTime: sfn.JsonPath.stringAt('$$.Execution.StartTime'),
        total: sfn.JsonPath.numberAt('$.total'),
        trigger: sfn.JsonPath.stringAt('$.trigger'),
        failure: sfn.JsonPath.objectAt('$.failure'),
        failedWave: sfn.JsonPath.stringAt('$.failedWave'),
      }),
      resultPath: '$.summary',
    });
    const mark = (wave: 'canary' | 'rest') =>
      new sfn.Pass(this, wave === 'canary' ? 'CanaryFailed' : 'RestFailed', { result: sfn.Result.fromString(wave), resultPath: '$.failedWave' });
    canary.addCatch(mark('canary').next(summarize), { errors: ['States.ALL'], resultPath: '$.failure' });
    rest.addCatch(mark('rest').next(summarize), { errors: ['States.ALL'], resultPath: '$.failure' });

    const done = new sfn.Choice(this, 'Passed?')
      .when(sfn.Condition.booleanEquals('$.summary.ok', true), new sfn.Succeed(this, 'Succeeded', { outputPath: '$.summary' }))
      .otherwise(new sfn.Fail(this, 'Failed', { errorPath: '$.summary.error', causePath: '$.summary.reason' }));
    return list.next(canary).next(rest).next(summarize).next(done);
  }

  private deployResource(props: DatabaseFleetMigrationsProps, hash: string, onDeploy: FleetOnDeploy, common: Omit<lambda.FunctionProps, 'handler'>, retention: logs.RetentionDays) {
    const wait = props.deployWait ?? FLEET_DEFAULTS.deployWait;
    const environment = { STAGE: props.stage, STATE_MACHINE_ARN: this.stateMachine.stateMachineArn, LEDGER_TABLE: this.ledger.tableName, POWERTOOLS_SERVICE_NAME: 'migrator-fleet' };
    const onEvent = new lambda.Function(this, 'DeployOnEvent', { ...common, handler: 'index.fleetDeployOnEvent', timeout: Duration.minutes(1), environment, description: `Fleet migrations on deploy: start (${props.stage})` });
    const isComplete = new lambda.Function(this, 'DeployIsComplete', { ...common, handler: 'index.fleetDeployIsComplete', timeout: Duration.minutes(1), environment, description: `Fleet migrations on deploy: wait (${props.stage})` });
    this.stateMachine.grantStartExecution(onEvent);
    this.stateMachine.grantRead(isComplete);
    this.ledger.grantReadData(isComplete);
    const provider = new cr.Provider(this, 'DeployProvider', {
      onEventHandler: onEvent,
      isCompleteHandler: isComplete,
      queryInterval: Duration.seconds(30),
      // Our isComplete answers at `wait` with its own reason; the framework's limit is only the backstop.
      totalTimeout: wait.plus(Duration.minutes(2)),
      logGroup: new logs.LogGroup(this, 'DeployProviderLogs', { retention }),
      disableWaiterStateMachineLogging: false,
      waiterStateMachineLogOptions: { destination: new logs.LogGroup(this, 'DeployWaiterLogs', { retention }), level: sfn.LogLevel.ALL },
    });
    this.acknowledgeProvider(provider, [onEvent, isComplete]);
    Validations.of(isComplete.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${this.executionsArnForNag()}:*]`,
      reason: "isComplete reads the executions of this fleet's state machine only (DescribeExecution); the wildcard is the execution id.",
    });
    Validations.of(isComplete.role!).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'grantRead on a state machine includes states:ListStateMachines/ListActivities, which have no resource-level permissions.',
    });
    const resource = new CustomResource(this, 'Resource', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::DatabaseFleetMigrations',
      properties: {
        Stage: props.stage,
        ResourceName: Names.uniqueId(this),
        ContentHash: hash,
        Wait: String(onDeploy === 'wait'),
        WaitSeconds: String(wait.toSeconds()),
        // Every deploy runs the fleet (new tenants, drift), and a rollback is recognised by this going backwards.
        DeployNonce: new Date().toISOString(),
      },
      serviceTimeout: Duration.seconds(Math.min(3600, wait.toSeconds() + 180)),
    });
    resource.node.addDependency(this.stateMachine);
    for (const db of props.databases ?? []) resource.node.addDependency(db);
    return resource;
  }

  /**
   * The CodeBuild project for long-running targets: the staged asset as its S3 source (the same bytes as
   * the functions' code, uploaded once), Node 22 on a CodeBuild-managed Amazon Linux 2023 image, the worker's
   * network and security groups, its grants (target secrets, ledger), and the worker's deadlines except
   * the budget: the build's timeout instead of an invocation's.
   */
  private longRunningRunner(
    props: DatabaseFleetMigrationsProps,
    lr: LongRunningProps,
    c: { migrationsDir: string; seedsDir?: string; hash: string; t: { connect: Duration; lockWait: Duration; lock: Duration }; retention: logs.RetentionDays; powertools: Record<string, string> },
  ): codebuild.Project {
    const timeout = lr.timeout ?? FLEET_DEFAULTS.longRunningTimeout;
    const budget = timeout.minus(FLEET_DEFAULTS.longRunningMargin);
    const source = new s3assets.Asset(this, 'LongRunningSource', {
      path: c.migrationsDir,
      ...stagedAssetOptions({ migrationsDir: c.migrationsDir, seedsDir: c.seedsDir, hash: c.hash, bundle: 'fleet' }),
    });
    const caFile = '/tmp/migrator-db-ca.pem';
    const project = new codebuild.Project(this, 'LongRunning', {
      description: `Fleet migrations: long-running migrations of one target per build (${props.stage})`,
      source: codebuild.Source.s3({ bucket: source.bucket, path: source.s3ObjectKey }),
      environment: {
        buildImage: codebuild.LinuxBuildImage.AMAZON_LINUX_2023_5,
        computeType: lr.computeType ?? codebuild.ComputeType.SMALL,
        privileged: false,
        environmentVariables: Object.fromEntries(
          Object.entries({
            ...c.powertools,
            LEDGER_TABLE: this.ledger.tableName,
            LEDGER_RETENTION_DAYS: String(props.ledgerRetentionDays ?? FLEET_DEFAULTS.ledgerRetentionDays),
            DB_TLS: 'verify-full',
            RDS_CA_FILE: caFile,
            CA_BUNDLE_URL: lr.caBundleUrl ?? FLEET_DEFAULTS.caBundleUrl,
            CONNECT_TIMEOUT_MS: String(c.t.connect.toMilliseconds()),
            LOCK_WAIT_TIMEOUT_MS: String(c.t.lockWait.toMilliseconds()),
            LOCK_TIMEOUT_MS: String(c.t.lock.toMilliseconds()),
            STATEMENT_TIMEOUT_MS: String((lr.statementTimeout ?? budget).toMilliseconds()),
            BUILD_BUDGET_MS: String(budget.toMilliseconds()),
          }).map(([k, value]) => [k, { value }]),
        ),
      },
      buildSpec: codebuild.BuildSpec.fromObject({
        version: '0.2',
        phases: {
          install: {
            'runtime-versions': { nodejs: 22 },
            // The database's CA for verify-full (Lambda's runtime has it in /var/runtime/ca-cert.pem).
            commands: ['curl --fail --silent --show-error --max-time 60 --output "$RDS_CA_FILE" "$CA_BUNDLE_URL"'],
          },
          // The same per-target core as the Lambda worker, for the target in this build's environment overrides.
          build: { commands: ['node build.mjs up'] },
        },
      }),
      timeout,
      vpc: props.vpc,
      subnetSelection: props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      // The worker's security groups: every database opened to the worker is opened to the build.
      securityGroups: this.workerFunction.connections.securityGroups,
      logging: { cloudWatch: { logGroup: new logs.LogGroup(this, 'LongRunningLogs', { retention: c.retention }) } },
    });
    this.ledger.grantWriteData(project);
    this.grantTargetSecrets(props.targets, project);
    this.acknowledgeLongRunning(project, props.targets);
    return project;
  }

  /** The seed grants' prefixes, on the worker and the build (the same as DatabaseMigrations' with seeds). */
  private acknowledgeSeeding(p: { tenantPrefix: string; providerPrefix: string }) {
    for (const role of [this.workerFunction.role!, ...(this.longRunningProject ? [this.longRunningProject.role!] : [])]) acknowledgeSeedingGrants(role, p);
  }

  private acknowledgeLongRunning(project: codebuild.Project, src: FleetTargetsProps) {
    const stack = Stack.of(this);
    const id = stack.getLogicalId(project.node.defaultChild as codebuild.CfnProject);
    const arn = (service: string, rest: string) => nagArn(this, service, rest);
    const role = project.role!;
    Validations.of(project).acknowledge({
      id: 'AwsSolutions-CB4',
      reason: 'The project has no artifacts and no cache (NO_ARTIFACTS, NO_CACHE): it produces nothing to encrypt; its logs go to a CloudWatch log group and its source is the CDK asset bucket.',
    });
    for (const action of ['s3:GetObject*', 's3:GetBucket*', 's3:List*']) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Action::${action}]`,
        reason: "CDK's read grant on the build's source: this fleet's staged asset object (and its bucket), nothing else.",
      });
    }
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${arn('ec2', 'network-interface/*')}]`,
      reason: "CodeBuild in a VPC: CreateNetworkInterfacePermission, conditioned on this project's subnets and ec2:AuthorizedService codebuild.amazonaws.com.",
    });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${arn('logs', `log-group:/aws/codebuild/<${id}>:*`)}]`,
      reason: "CodeBuild's default grant on the project's own log group and its streams.",
    });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${arn('codebuild', `report-group/<${id}>-*`)}]`,
      reason: "CodeBuild's default grant on the project's own report groups (the project creates none).",
    });
    Validations.of(project).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'CodeBuild in a VPC: the EC2 Describe*/CreateNetworkInterface/DeleteNetworkInterface actions it needs have no resource-level permissions.',
    });
    if (src.secretNamePrefix) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${arn('secretsmanager', `secret:${src.secretNamePrefix}*`)}]`,
        reason: 'Target secrets are created per tenant database at run time under this fixed prefix; the wildcard covers that prefix and the random suffix Secrets Manager appends.',
      });
    }
    if (src.secretTag) {
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'Target secrets selected by tag: GetSecretValue is conditioned on secretsmanager:ResourceTag, the only way to scope secrets whose names are not known.',
      });
    }
  }

  private grantTargetSecrets(src: FleetTargetsProps, grantee: lambda.Function | codebuild.Project) {
    const stack = Stack.of(this);
    for (const s of src.static ?? []) s.secret.grantRead(grantee);
    if (src.secretNamePrefix) {
      grantee.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ReadTargetSecretsUnderPrefix',
          actions: ['secretsmanager:GetSecretValue'],
          resources: [stack.formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: `${src.secretNamePrefix}*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
        }),
      );
    }
    if (src.secretTag) {
      grantee.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ReadTargetSecretsByTag',
          actions: ['secretsmanager:GetSecretValue'],
          resources: ['*'],
          conditions: src.secretTag.value !== undefined
            ? { StringEquals: { [`secretsmanager:ResourceTag/${src.secretTag.key}`]: src.secretTag.value } }
            : { Null: { [`secretsmanager:ResourceTag/${src.secretTag.key}`]: 'false' } },
        }),
      );
    }
    if ((src.secretNamePrefix || src.secretTag) && grantee === this.workerFunction) {
      // ListSecrets has no resource-level permissions; it returns names and ARNs, never values.
      this.listFunction.addToRolePolicy(new iam.PolicyStatement({ sid: 'ListTargetSecrets', actions: ['secretsmanager:ListSecrets'], resources: ['*'] }));
    }
    if (src.secretsKey) {
      grantee.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'DecryptTargetSecretsViaSecretsManager',
          actions: ['kms:Decrypt'],
          resources: [src.secretsKey.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${stack.region}.${stack.urlSuffix}` } },
        }),
      );
    }
  }

  /** A fleet metric (EMF, published by the summary step once per execution), dimensions {service, stage, fleet}. */
  metric(name: FleetMetricName, statistic = 'Sum', period = Duration.minutes(5)) {
    return new cloudwatch.Metric({
      namespace: this.metricsNamespace,
      metricName: name,
      dimensionsMap: { service: 'migrator-fleet', stage: this.stage, fleet: this.fleetName },
      statistic,
      period,
    });
  }

  private acknowledgeFindings(src: FleetTargetsProps) {
    const stack = Stack.of(this);
    for (const fn of [this.workerFunction, this.listFunction, this.summaryFunction]) {
      acknowledgeLambdaPolicies(fn.role!, "AWS managed policy limited to writing the function's own CloudWatch Logs.", { vpc: fn === this.workerFunction });
    }
    if (src.secretNamePrefix) {
      Validations.of(this.workerFunction.role!).acknowledge({
        id: wildcardFinding(secretsUnderPrefix(this, src.secretNamePrefix)),
        reason: 'Target secrets are created per tenant database at run time under this fixed prefix; the wildcard covers that prefix and the random suffix Secrets Manager appends.',
      });
    }
    if (src.secretTag) {
      Validations.of(this.workerFunction.role!).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'Target secrets selected by tag: GetSecretValue is conditioned on secretsmanager:ResourceTag, the only way to scope secrets whose names are not known.',
      });
    }
    if (src.secretNamePrefix || src.secretTag) {
      Validations.of(this.listFunction.role!).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'secretsmanager:ListSecrets supports no resource-level permissions; it returns names and ARNs, never values.',
      });
    }
    for (const fn of [this.workerFunction, this.listFunction, this.summaryFunction]) {
      Validations.of(this.stateMachine.role).acknowledge({
        id: wildcardFinding(functionAndVersions(fn)),
        reason: 'Step Functions invoke permission on the fleet function and its versions/aliases (the :* suffix), nothing else.',
      });
    }
    // Distributed Map: the state machine starts and watches its own child executions (one per wave label).
    const executions = this.executionsArnForNag();
    for (const suffix of [':*', '/Canary:*', '/Rest:*']) {
      Validations.of(this.stateMachine).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${executions}${suffix}]`,
        reason: "Distributed Map: the state machine manages its own child executions (and reads its own executions); the wildcard is the execution id, within this state machine only.",
      });
    }
    const listsId = stack.getLogicalId(this.targetLists.node.defaultChild as s3.CfnBucket);
    Validations.of(this.listFunction.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${listsId}.Arn>/*]`,
      reason: "PutObject into this fleet's target-lists bucket only: one object per wave per execution, named by the execution.",
    });
    Validations.of(this.stateMachine.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::<${listsId}>/*]`,
      reason: "The Distributed Maps' ItemReader: GetObject on this fleet's target-lists bucket only (the key is the execution's).",
    });
    Validations.of(this.stateMachine.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray tracing (PutTraceSegments/PutTelemetryRecords) and CloudWatch Logs delivery (the vended-logs API) have no resource-level permissions.',
    });
  }

  /** How cdk-nag renders this state machine's executions ARN (the name is taken from the state machine's Ref). */
  private executionsArnForNag(): string {
    const smId = Stack.of(this).getLogicalId(this.stateMachine.node.defaultChild as sfn.CfnStateMachine);
    return `arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${smId}"}]}]}`;
  }

  private acknowledgeProvider(provider: cr.Provider, handlers: lambda.Function[]) {
    const stack = Stack.of(this);
    Validations.of(provider).acknowledge({
      id: 'AwsSolutions-SF2',
      reason: "The Provider framework's waiter state machine is defined inside aws-cdk-lib and offers no tracing option; it logs ALL events.",
    });
    for (const fn of ['isComplete', 'onTimeout']) {
      const id = stack.getLogicalId(provider.node.findChild(`framework-${fn}`).node.defaultChild as lambda.CfnFunction);
      Validations.of(provider).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${id}.Arn>:*]`,
        reason: 'Provider framework waiter: invoke permission on its own polling functions and their versions, nothing else.',
      });
    }
    Validations.of(provider).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'Provider framework waiter: CloudWatch Logs delivery and X-Ray actions have no resource-level permissions.',
    });
    acknowledgeLambdaPolicies(provider, 'CDK Provider framework functions: AWS managed policy limited to their own CloudWatch Logs.');
    for (const fn of handlers) {
      acknowledgeLambdaPolicies(fn.role!, "AWS managed policy limited to writing the function's own CloudWatch Logs.");
      Validations.of(provider).acknowledge({
        id: wildcardFinding(functionAndVersions(fn)),
        reason: 'CDK Provider framework: invoke permission on the fleet deploy function and its versions/aliases, nothing else.',
      });
    }
  }
}

function validate(path: string, props: DatabaseFleetMigrationsProps) {
  const fail = (m: string) => {
    throw new Error(`DatabaseFleetMigrations ${path}: ${m}`);
  };
  if (!/^[a-z][a-z0-9-]{0,31}$/.test(props.stage)) fail(`stage "${props.stage}" must be lowercase letters, digits and dashes`);
  const src = props.targets;
  if (!src.secretNamePrefix && !src.secretTag && !src.static?.length) fail('targets needs secretNamePrefix, secretTag or static targets');
  if (src.secretNamePrefix !== undefined && (!src.secretNamePrefix.endsWith('/') || src.secretNamePrefix.includes('*'))) fail(`targets.secretNamePrefix "${src.secretNamePrefix}" must end with "/" and contain no wildcard`);
  const c = props.maxConcurrency;
  if (c !== undefined && (!Number.isInteger(c) || c < 1 || c > 10_000)) fail(`maxConcurrency ${c} must be a whole number from 1 to 10000 (Distributed Map's limit)`);
  const p = props.toleratedFailurePercentage;
  if (p !== undefined && (p < 0 || p > 100)) fail(`toleratedFailurePercentage ${p} must be between 0 and 100`);
  const n = props.toleratedFailureCount;
  if (n !== undefined && (!Number.isInteger(n) || n < 0)) fail(`toleratedFailureCount ${n} must be a whole number >= 0`);
  const cc = props.canary?.count;
  if (cc !== undefined && (!Number.isInteger(cc) || cc < 0)) fail(`canary.count ${cc} must be a whole number >= 0`);
  const wait = (props.deployWait ?? FLEET_DEFAULTS.deployWait).toSeconds();
  if (wait > FLEET_DEFAULTS.maxDeployWait.toSeconds()) fail(`deployWait is ${wait / 60} min; CloudFormation waits at most 60 min for a custom resource, so at most 55 (use onDeploy 'after-deploy' for longer runs)`);
  if (props.seeding && !props.seedsDir) fail('seeding is set but seedsDir is not: give the seeds folder, or drop seeding');
  if (props.longRunning) {
    const lt = props.longRunning.timeout?.toMinutes({ integral: false });
    if (lt !== undefined && (!Number.isInteger(lt) || lt < 20 || lt > 2160)) fail(`longRunning.timeout is ${lt} min; it must be whole minutes from 20 to 2160 (CodeBuild's limit, 36 hours)`);
    const timeout = (props.longRunning.timeout ?? FLEET_DEFAULTS.longRunningTimeout).toSeconds();
    const execution = (props.executionTimeout ?? FLEET_DEFAULTS.executionTimeout).toSeconds();
    // A build still running when the execution times out is stopped by Step Functions (StopBuild).
    if (timeout >= execution) fail(`longRunning.timeout (${timeout / 60} min) must be shorter than executionTimeout (${execution / 60} min): the execution would stop the build`);
    const budget = (props.longRunning.timeout ?? FLEET_DEFAULTS.longRunningTimeout).minus(FLEET_DEFAULTS.longRunningMargin).toSeconds();
    const st = props.longRunning.statementTimeout?.toSeconds();
    if (st !== undefined && st > budget) fail(`longRunning.statementTimeout (${st} s) must fit in the build's budget (${budget} s: longRunning.timeout minus 5 minutes)`);
  }
  const fn = (props.timeouts?.function ?? FLEET_DEFAULTS.function).toSeconds();
  if (fn > 900 || fn < 60) fail(`timeouts.function is ${fn} s; it must be 60..900 s (one Lambda invocation per target)`);
  for (const k of ['connect', 'lockWait', 'lock', 'statement'] as const) {
    const v = props.timeouts?.[k];
    if (v && v.toSeconds() >= fn) fail(`timeouts.${k} (${v.toSeconds()} s) must be shorter than timeouts.function (${fn} s)`);
  }
}
