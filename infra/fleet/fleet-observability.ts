/**
 * `FleetObservability`: what ops looks at for a `DatabaseFleetMigrations`: alarms (failed targets, from the
 * summary step's EMF metrics; failed or timed-out executions, from Step Functions' own metrics) notifying an
 * SNS topic, dashboard widgets (on a dashboard of yours, or a new one), and saved Logs Insights queries.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { DatabaseFleetMigrations } from './database-fleet-migrations.ts';
import { countAlarm, savedQueries } from '../observe.ts';

export interface FleetObservabilityProps {
  readonly fleet: DatabaseFleetMigrations;
  /** Topic the alarms notify. @default a new topic encrypted with the AWS managed SNS key */
  readonly alarmTopic?: sns.ITopic;
  /** Add the widgets to this dashboard. @default a new dashboard */
  readonly dashboard?: cloudwatch.Dashboard;
  /** Failed targets (in one execution's summary) that raise the alarm. @default 1 */
  readonly failedTargetsThreshold?: number;
}

export class FleetObservability extends Construct {
  readonly alarmTopic: sns.ITopic;
  readonly failedTargetsAlarm: cloudwatch.Alarm;
  readonly failedExecutionsAlarm: cloudwatch.Alarm;
  readonly dashboard: cloudwatch.Dashboard;
  readonly queries: logs.QueryDefinition[];

  constructor(scope: Construct, id: string, props: FleetObservabilityProps) {
    super(scope, id);
    const f = props.fleet;
    this.alarmTopic =
      props.alarmTopic ??
      new sns.Topic(this, 'AlarmTopic', { displayName: `Fleet migration alarms (${f.stage})`, masterKey: kms.Alias.fromAliasName(this, 'SnsKey', 'alias/aws/sns'), enforceSSL: true });

    this.failedTargetsAlarm = countAlarm(this, 'FailedTargets', {
      description: `Fleet targets failed on ${f.stage} (also in tolerated and post-deploy runs): see 'migrator fleet status --execution <arn>'.`,
      metric: f.metric('FleetTargetsFailed', 'Sum', Duration.minutes(5)),
      threshold: props.failedTargetsThreshold,
      topic: this.alarmTopic,
    });
    // Step Functions' own count also sees executions that never reached the summary (list step, timeouts).
    const sm = f.stateMachine;
    this.failedExecutionsAlarm = countAlarm(this, 'FailedExecutions', {
      description: `A fleet execution failed, timed out or was aborted on ${f.stage}.`,
      metric: new cloudwatch.MathExpression({
        expression: 'failed + timedOut + aborted',
        usingMetrics: { failed: sm.metricFailed({ period: Duration.minutes(5) }), timedOut: sm.metricTimedOut({ period: Duration.minutes(5) }), aborted: sm.metricAborted({ period: Duration.minutes(5) }) },
        period: Duration.minutes(5),
        label: 'Failed, timed-out and aborted executions',
      }),
      topic: this.alarmTopic,
    });

    this.dashboard = props.dashboard ?? new cloudwatch.Dashboard(this, 'Dashboard', { defaultInterval: Duration.days(7) });
    const h = Duration.hours(1);
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: `Fleet targets per execution (${f.node.id})`,
        left: [f.metric('FleetTargetsSucceeded', 'Sum', h), f.metric('FleetTargetsFailed', 'Sum', h), f.metric('FleetTargetsSkipped', 'Sum', h)],
        stacked: true,
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: `Fleet execution duration (ms) (${f.node.id})`,
        left: [f.metric('FleetDurationMs', 'Maximum', h), f.metric('FleetDurationMs', 'Average', h)],
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: `Fleet executions (${f.node.id})`,
        left: [sm.metricStarted({ period: h }), sm.metricSucceeded({ period: h }), sm.metricFailed({ period: h }), sm.metricTimedOut({ period: h })],
        width: 12,
      }),
      new cloudwatch.AlarmStatusWidget({ title: 'Fleet alarms', alarms: [this.failedTargetsAlarm, this.failedExecutionsAlarm], width: 12 }),
      new cloudwatch.LogQueryWidget({
        title: 'Failed fleet targets',
        logGroupNames: [f.logGroup.logGroupName],
        queryLines: ['fields @timestamp, executionArn, target, wave, errorName, error', 'filter outcome = "failed" and ispresent(target)', 'sort @timestamp desc', 'limit 100'],
        width: 24,
      }),
    );

    const prefix = `${Stack.of(this).stackName}-${f.node.id}`;
    this.queries = savedQueries(this, prefix, [f.logGroup], [
      {
        id: 'FailedTargetsQuery',
        name: 'failed-targets',
        fields: ['@timestamp', 'executionArn', 'target', 'wave', 'runId', 'errorName', 'error'],
        filter: 'outcome = "failed" and ispresent(target)',
        sort: '@timestamp desc',
        limit: 200,
      },
      {
        id: 'ExecutionSummariesQuery',
        name: 'execution-summaries',
        fields: ['@timestamp', 'executionArn', 'outcome', 'total', 'succeeded', 'failed', 'skipped', 'durationMs'],
        filter: 'message = "fleet execution summary"',
        sort: '@timestamp desc',
        limit: 100,
      },
      {
        id: 'SlowestTargetsQuery',
        name: 'slowest-targets',
        filter: 'ispresent(target) and ispresent(durationMs) and ispresent(outcome)',
        stats: 'max(durationMs) as slowest, count(*) as runs by target',
        sort: 'slowest desc',
        limit: 50,
      },
    ]);
  }
}
