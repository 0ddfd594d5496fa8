/**
 * `DatabaseMigrations`' two functions (deploy-time and on-demand operations): one prebuilt asset, one
 * environment, and the deploy-time function's log group. Construct ids are the construct's own (`scope`),
 * unchanged since the NodejsFunction days, so deployed stacks keep their logical ids.
 */
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { stagedCode } from '../asset/stage.ts';
import type { DatabaseMigrationsProps } from './props.ts';
import type { Settings } from './settings.ts';

export interface MigratorFunctionsOptions {
  readonly props: DatabaseMigrationsProps;
  readonly settings: Settings;
  readonly vpcSubnets: ec2.SubnetSelection;
  readonly securityGroups: ec2.ISecurityGroup[];
  /** Log group of the operations function. */
  readonly logGroup: logs.LogGroup;
  /** Content hash of migrations + seeds (the asset's hash). */
  readonly contentHash: string;
  readonly metricsNamespace: string;
}

export interface MigratorFunctions {
  readonly migratorFunction: lambda.Function;
  readonly operationsFunction: lambda.Function;
  readonly deployLogGroup: logs.LogGroup;
}

/** Create both functions in `scope` (the construct). */
export function migratorFunctions(scope: Construct, options: MigratorFunctionsOptions): MigratorFunctions {
  const { props, settings, vpcSubnets, securityGroups } = options;
  const { migrationsDir, seedsDir, protectedStage, tenantPrefix, providerPrefix, timeouts: t } = settings;
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
    POWERTOOLS_METRICS_NAMESPACE: options.metricsNamespace,
    SEEDS_ENABLED: String(Boolean(seedsDir)),
  };
  if (props.encryptionKey) environment.KMS_KEY_ARN = props.encryptionKey.keyArn;
  if (props.runsTable) environment.RUNS_TABLE = props.runsTable;

  // One asset for both functions: the handler bundle prebuilt with the package (one file, two exports)
  // plus this app's migrations and seeds. CDK's local bundling stages it at synth (only for stacks being
  // synthesized), with no Docker, no lock file and no bundler run over our sources.
  const code = stagedCode({ migrationsDir, seedsDir, hash: options.contentHash });

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
    logGroup: options.logGroup,
    tracing: lambda.Tracing.DISABLED,
  } satisfies Omit<lambda.FunctionProps, 'handler'>;

  const { logGroup: _shared, ...deployCommon } = common;
  // Construct ids unchanged since the NodejsFunction days, so deployed stacks keep their logical ids.
  const migratorFunction = new lambda.Function(scope, 'Migrator', {
    ...deployCommon,
    handler: 'index.onEvent',
    description: `Deploy-time migrations and seeds (${props.stage})`,
  });
  const retention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;
  // Apps with the `@aws-cdk/aws-lambda:useCdkManagedLogGroup` flag (every `cdk init` app since 2.2xx) get
  // that group from the function itself: adopt it (a second group of the same name fails the synth).
  let deployLogGroup: logs.LogGroup;
  const managed = migratorFunction.node.tryFindChild('LogGroup');
  if (managed instanceof logs.LogGroup) {
    (managed.node.defaultChild as logs.CfnLogGroup).retentionInDays = retention === logs.RetentionDays.INFINITE ? undefined : retention;
    deployLogGroup = managed;
  } else {
    deployLogGroup = new logs.LogGroup(scope, 'DeployLogs', {
      logGroupName: `/aws/lambda/${migratorFunction.functionName}`,
      retention,
    });
  }
  const operationsFunction = new lambda.Function(scope, 'Operations', {
    ...common,
    handler: 'index.operations',
    functionName: props.operationsFunctionName,
    description: `On-demand migrator operations (${props.stage})`,
  });
  return { migratorFunction, operationsFunction, deployLogGroup };
}
