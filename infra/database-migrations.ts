/**
 * `DatabaseMigrations`: runs the project's migrations and tenant seeds as a CloudFormation custom resource,
 * so `cdk deploy` brings the database schema up before anything that depends on it changes.
 *
 * One construct per database (several instances in one app work: every name below is scoped to the
 * construct). Other constructs declare `node.addDependency(migrations)` to deploy after the schema.
 *
 * The parts, one job each, in database-migrations/: props (props.ts), their checks and defaults
 * (settings.ts), the two functions (functions.ts), their grants (grants.ts), the custom resource
 * (custom-resource.ts) and the deliberate cdk-nag findings (nag.ts).
 */
import { CfnOutput, CustomResource, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct, Dependable } from 'constructs';
import { contentHash } from './content-hash.ts';
import { defaultSubnets, requireEndpoints } from './network.ts';
import { migrationsResource } from './database-migrations/custom-resource.ts';
import { migratorFunctions } from './database-migrations/functions.ts';
import { grantReadOwnStackStatus, grantSeeding } from './database-migrations/grants.ts';
import { warnLongRunning } from './database-migrations/long-running.ts';
import { acknowledgeFunctionFindings } from './database-migrations/nag.ts';
import { MIGRATION_DEFAULTS, type DatabaseMigrationsProps } from './database-migrations/props.ts';
import { settingsOf } from './database-migrations/settings.ts';

export { MIGRATION_DEFAULTS, type DatabaseMigrationsProps, type MigrationTimeouts, type RunOn } from './database-migrations/props.ts';

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
    const settings = settingsOf(this, props);
    const { migrationsDir, seedsDir, tenantPrefix, providerPrefix } = settings;
    warnLongRunning(this, migrationsDir);
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

    const fns = migratorFunctions(this, {
      props, settings, vpcSubnets, securityGroups, logGroup: this.logGroup, contentHash: content.hash, metricsNamespace: this.metricsNamespace,
    });
    this.migratorFunction = fns.migratorFunction;
    this.operationsFunction = fns.operationsFunction;
    this.deployLogGroup = fns.deployLogGroup;
    this.logGroups = [this.deployLogGroup, this.logGroup];

    grantReadOwnStackStatus(this.migratorFunction);
    for (const fn of [this.migratorFunction, this.operationsFunction]) {
      props.databaseSecret.grantRead(fn);
      // Seed permissions only when there are seeds: a database without them gets the database secret, nothing more.
      if (seedsDir) grantSeeding(fn, props, tenantPrefix, providerPrefix);
      props.database.connections.allowDefaultPortFrom(fn, `Migrator ${this.node.path}`);
      acknowledgeFunctionFindings(fn, seedsDir ? { tenantPrefix, providerPrefix } : undefined);
    }

    this.resource = migrationsResource(this, { props, settings, content, migratorFunction: this.migratorFunction, deployLogGroup: this.deployLogGroup });

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
