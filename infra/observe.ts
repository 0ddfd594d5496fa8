/**
 * What both observability constructs (MigrationObservability, FleetObservability) build from, written
 * once: an alarm on a count that notifies a topic, and saved Logs Insights queries under one prefix.
 */
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';

export interface CountAlarmProps {
  readonly description: string;
  /** A count (a Sum over one period). */
  readonly metric: cloudwatch.IMetric;
  /** @default 1 */
  readonly threshold?: number;
  readonly topic: sns.ITopic;
}

/**
 * An alarm that fires when `metric` reaches `threshold` in one period and notifies `topic`. No data means
 * nothing happened (no runs, no failures), so it is not breaching.
 */
export function countAlarm(scope: Construct, id: string, props: CountAlarmProps): cloudwatch.Alarm {
  const alarm = new cloudwatch.Alarm(scope, id, {
    alarmDescription: props.description,
    metric: props.metric,
    threshold: props.threshold ?? 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  alarm.addAlarmAction(new actions.SnsAction(props.topic));
  return alarm;
}

/** One saved Logs Insights query. */
export interface SavedQuery {
  /** Construct id (the logical id derives from it: keep it stable). */
  readonly id: string;
  /** Name after the prefix: `<prefix>/<name>` in the console's saved queries. */
  readonly name: string;
  readonly fields?: string[];
  readonly filter: string;
  readonly stats?: string;
  readonly sort: string;
  readonly limit?: number;
}

/** Saved queries over `logGroups`, named `<prefix>/<name>`. */
export function savedQueries(scope: Construct, prefix: string, logGroups: logs.ILogGroup[], queries: SavedQuery[]): logs.QueryDefinition[] {
  return queries.map(
    (q) =>
      new logs.QueryDefinition(scope, q.id, {
        queryDefinitionName: `${prefix}/${q.name}`,
        logGroups,
        queryString: new logs.QueryString({
          fields: q.fields,
          filterStatements: [q.filter],
          statsStatements: q.stats === undefined ? undefined : [q.stats],
          sort: q.sort,
          limit: q.limit,
        }),
      }),
  );
}
