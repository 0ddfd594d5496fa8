/**
 * Last state of a fleet execution (on success and on every failure path): read the execution's ledger,
 * publish its metrics (succeeded, failed, skipped targets; duration) and say whether the execution passed.
 * The state machine then succeeds, or fails with `reason` as the cause (what a blocked deploy shows).
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import * as z from 'zod';
import { awsClientConfig } from '../core/aws/clients.ts';
import { DEFAULT_NAMESPACE } from '../core/aws/observability.ts';
import { fleetLogger as createLogger } from './fleet-log.ts';
import { DynamoDbLedger } from '../core/fleet/dynamodb-ledger.ts';
import { fleetReason, summarize, type FleetSummary } from '../core/fleet/summary.ts';
import type { LedgerStore } from '../core/fleet/types.ts';
import { summaryEnv } from './fleet-env.ts';

const SummaryEvent = z.object({
  executionId: z.string().min(1),
  startTime: z.string().min(1),
  total: z.number().int().min(0),
  trigger: z.string().default('invoke'),
  /** The Map's caught error ({Error, Cause}) when a wave failed; null otherwise. */
  failure: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).nullable().default(null),
  failedWave: z.enum(['canary', 'rest']).nullable().default(null),
});

export interface SummaryResult extends Omit<FleetSummary, 'failedTargets' | 'runningTargets'> {
  runningTargets: FleetSummary['runningTargets'];
  ok: boolean;
  /** Error name of the failed execution (`FleetCanaryFailed`, `FleetToleranceExceeded`, `FleetFailed`), '' when ok. */
  error: string;
  /** One paragraph: counts, the first failed targets with errors, the execution. */
  reason: string;
  durationMs: number;
  failedTargets: FleetSummary['failedTargets'];
}

export const FLEET_METRICS_SERVICE = 'migrator-fleet';

export function createFleetSummary(deps: { ledger?: LedgerStore } = {}) {
  let ledger = deps.ledger;
  return async function fleetSummary(raw: unknown): Promise<SummaryResult> {
    const env = summaryEnv();
    const e = SummaryEvent.parse(raw);
    ledger ??= new DynamoDbLedger({ tableName: env.LEDGER_TABLE, client: new DynamoDBClient(awsClientConfig()) });
    const s = summarize(e.executionId, await ledger.list(e.executionId), e.total);
    const durationMs = Math.max(0, Date.now() - Date.parse(e.startTime));
    const failed = e.failure !== null;
    const why = !failed
      ? undefined
      : e.failedWave === 'canary'
        ? 'the canary wave failed, the rest was not started'
        : e.failure?.Error === 'States.ExceedToleratedFailureThreshold'
          ? 'more targets failed than the fleet tolerates'
          : `the execution failed: ${e.failure?.Error ?? 'error'}`;
    const error = !failed ? '' : e.failedWave === 'canary' ? 'FleetCanaryFailed' : e.failure?.Error === 'States.ExceedToleratedFailureThreshold' ? 'FleetToleranceExceeded' : 'FleetFailed';
    const reason = s.failed || failed ? fleetReason(s, why) : `${s.succeeded} of ${s.total} fleet target(s) migrated. Execution: ${e.executionId}`;

    const metrics = new Metrics({
      namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? DEFAULT_NAMESPACE,
      serviceName: FLEET_METRICS_SERVICE,
      defaultDimensions: { stage: env.STAGE, fleet: env.FLEET_NAME },
    });
    metrics.addMetric('FleetExecutions', MetricUnit.Count, 1);
    metrics.addMetric('FleetExecutionsFailed', MetricUnit.Count, failed ? 1 : 0);
    metrics.addMetric('FleetTargetsSucceeded', MetricUnit.Count, s.succeeded);
    metrics.addMetric('FleetTargetsFailed', MetricUnit.Count, s.failed);
    metrics.addMetric('FleetTargetsSkipped', MetricUnit.Count, s.skipped);
    metrics.addMetric('FleetDurationMs', MetricUnit.Milliseconds, durationMs);
    metrics.publishStoredMetrics();

    const logger = createLogger({ stage: env.STAGE, trigger: e.trigger as 'invoke', executionArn: e.executionId });
    (failed ? logger.error.bind(logger) : logger.info.bind(logger))('fleet execution summary', {
      outcome: failed ? 'failed' : 'succeeded',
      total: s.total,
      succeeded: s.succeeded,
      failed: s.failed,
      skipped: s.skipped,
      durationMs,
    });
    // Only the first few failures travel in the state (256 KiB); the ledger has them all.
    return { ...s, failedTargets: s.failedTargets.slice(0, 10), runningTargets: s.runningTargets.slice(0, 10), ok: !failed, error, reason, durationMs };
  };
}

export const fleetSummary = createFleetSummary();
