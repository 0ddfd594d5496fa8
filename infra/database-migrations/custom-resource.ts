/**
 * `DatabaseMigrations`' custom resource: the Provider framework over the deploy-time function, and the
 * properties whose change makes CloudFormation send an Update (content hash, and a nonce by default).
 */
import { CustomResource, Duration, Names } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import type { Construct } from 'constructs';
import type { ContentSummary } from '../content-hash.ts';
import { acknowledgeProviderFindings } from './nag.ts';
import type { DatabaseMigrationsProps } from './props.ts';
import type { Settings } from './settings.ts';

export interface MigrationsResourceOptions {
  readonly props: DatabaseMigrationsProps;
  readonly settings: Settings;
  readonly content: ContentSummary;
  readonly migratorFunction: lambda.Function;
  /** The deploy-time function's log group, created before the first run. */
  readonly deployLogGroup: logs.LogGroup;
}

/** Create the Provider and the custom resource in `scope` (the construct). */
export function migrationsResource(scope: Construct, options: MigrationsResourceOptions): CustomResource {
  const { props, content } = options;
  const { runOn, timeouts: t } = options.settings;
  const provider = new cr.Provider(scope, 'Provider', {
    onEventHandler: options.migratorFunction,
    logGroup: new logs.LogGroup(scope, 'ProviderLogs', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
    }),
  });
  acknowledgeProviderFindings(provider, options.migratorFunction);

  const properties: Record<string, string> = {
    Stage: props.stage,
    ContentHash: content.hash,
    MigrationCount: String(content.migrationFiles.length),
    SeedFileCount: String(content.seedFiles.length),
    RunOn: runOn,
    // Scoped to this construct so several instances in one app keep separate identities.
    ResourceName: Names.uniqueId(scope),
  };
  // What a rollback answers as LastMigration when it cannot reach the database (the content it rolls back to).
  const lastMigration = content.migrationFiles.map((f) => f.replace(/\.(up\.sql|sql|ts|mts|cts|js|mjs|cjs)$/, '')).filter((n) => !n.endsWith('.down')).at(-1);
  if (lastMigration) properties.LastMigration = lastMigration;
  if (runOn === 'every-deploy') {
    // Changes on every synth so CloudFormation sends an Update on every deploy. Side effect, by design:
    // `cdk diff` always shows this property; it carries no content, only a time stamp.
    properties.DeployNonce = new Date().toISOString();
  }

  const resource = new CustomResource(scope, 'Resource', {
    serviceToken: provider.serviceToken,
    resourceType: 'Custom::DatabaseMigrations',
    properties,
    // Never leave the stack waiting an hour: the function's own timeout plus the framework's margin.
    serviceTimeout: Duration.seconds(t.function.toSeconds() + 120),
  });
  // Never before the database (and its secret attachment) exist, nor before the log group the function
  // writes to (Lambda would otherwise create it without retention, and CloudFormation then fail to).
  resource.node.addDependency(props.database);
  resource.node.addDependency(options.deployLogGroup);
  return resource;
}
