/**
 * `MigrationObservability`: what ops looks at for a `DatabaseMigrations` instance: an alarm on failed runs
 * (from the handlers' EMF metrics) that notifies an SNS topic, a dashboard, and saved Logs Insights queries.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { DatabaseMigrations } from './database-migrations.ts';
import { countAlarm, savedQueries } from './observe.ts';

export interface MigrationObservabilityProps {
  /** The migrations construct to watch. */
  readonly migrations: DatabaseMigrations;
  /**
   * Key that encrypts the alarm topic (SNS server-side encryption).
   * @default an AWS managed key for SNS
   */
  readonly topicKey?: kms.IKey;
  /**
   * Failed runs within one period that raise the alarm.
   * @default 1
   */
  readonly failureThreshold?: number;
}

export class MigrationObservability extends Construct {
  readonly alarmTopic: sns.Topic;
  readonly failureAlarm: cloudwatch.Alarm;
  /**
   * Lambda's own `Errors` of both migrator functions: also fires when a run could not publish its Failures
   * metric (the invocation was killed at its timeout, the function could not start).
   */
  readonly errorsAlarm: cloudwatch.Alarm;
  readonly dashboard: cloudwatch.Dashboard;
  readonly queries: logs.QueryDefinition[];

  constructor(scope: Construct, id: string, props: MigrationObservabilityProps) {
    super(scope, id);
    const m = props.migrations;
    const prefix = `${Stack.of(this).stackName}-${m.node.id}`;

    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: `Migrator alarms (${m.stage})`,
      masterKey: props.topicKey ?? kms.Alias.fromAliasName(this, 'SnsKey', 'alias/aws/sns'),
      enforceSSL: true,
    });

    this.failureAlarm = countAlarm(this, 'FailedRuns', {
      description: `A migration or seed run failed on ${m.stage}: see the migrator log group and 'migrator runs'.`,
      metric: m.metricFailures(Duration.minutes(5)),
      threshold: props.failureThreshold,
      topic: this.alarmTopic,
    });

    this.errorsAlarm = countAlarm(this, 'FunctionErrors', {
      description: `A migrator function invocation failed on ${m.stage} (Lambda Errors: a failed run, a timeout or a crash): see the migrator log groups.`,
      metric: new cloudwatch.MathExpression({
        expression: 'deploy + operations',
        usingMetrics: {
          deploy: m.migratorFunction.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
          operations: m.operationsFunction.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
        },
        label: 'Errors (both functions)',
        period: Duration.minutes(5),
      }),
      topic: this.alarmTopic,
    });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.days(7),
    });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Runs and failures',
        left: [m.metric('Runs', 'Sum', Duration.hours(1)), m.metric('Failures', 'Sum', Duration.hours(1))],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Migrations applied / seed rows changed',
        left: [m.metric('MigrationsApplied', 'Sum', Duration.hours(1)), m.metric('SeedRowsChanged', 'Sum', Duration.hours(1))],
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Run duration (ms)',
        left: [m.metric('DurationMs', 'Maximum', Duration.hours(1)), m.metric('DurationMs', 'Average', Duration.hours(1))],
        width: 12,
      }),
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: [this.failureAlarm, this.errorsAlarm], width: 12 }),
      new cloudwatch.LogQueryWidget({
        title: 'Recent runs',
        logGroupNames: m.logGroups.map((g) => g.logGroupName),
        queryLines: [
          'fields @timestamp, runId, trigger, outcome, appliedCount, lastMigration, durationMs',
          'filter ispresent(outcome)',
          'sort @timestamp desc',
          'limit 50',
        ],
        width: 24,
      }),
    );

    this.queries = savedQueries(this, prefix, m.logGroups, [
      {
        id: 'RecentRuns',
        name: 'recent-runs',
        fields: ['@timestamp', 'runId', 'stage', 'trigger', 'outcome', 'appliedCount', 'lastMigration', 'durationMs'],
        filter: 'ispresent(outcome)',
        sort: '@timestamp desc',
        limit: 100,
      },
      {
        id: 'Failures',
        name: 'failures',
        fields: ['@timestamp', 'runId', 'trigger', 'migration', 'sqlstate', 'error', '@logStream'],
        filter: 'level = "ERROR"',
        sort: '@timestamp desc',
        limit: 100,
      },
      {
        id: 'SeedChangesPerTenant',
        name: 'seed-changes-per-tenant',
        filter: 'ispresent(tenant) and ispresent(rowsChanged)',
        stats: 'sum(rowsChanged) as changed, count(*) as runs by tenant',
        sort: 'changed desc',
      },
    ]);
  }
}
