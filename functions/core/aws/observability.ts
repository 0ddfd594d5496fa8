/**
 * Powertools Logger (JSON lines) and Metrics (EMF) for the Lambda handlers. One logger per invocation carries
 * run id, stage and trigger as persistent keys; values that could be secret are never passed to it.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

export const SERVICE_NAME = 'migrator';
export const DEFAULT_NAMESPACE = 'PgTenantMigrator';

export interface RunKeys {
  stage: string;
  trigger: 'deploy' | 'invoke' | 'local';
  runId?: string;
  [key: string]: string | number | boolean | undefined;
}

export function createLogger(keys: RunKeys): Logger {
  return new Logger({
    serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? SERVICE_NAME,
    persistentKeys: Object.fromEntries(Object.entries(keys).filter(([, v]) => v !== undefined)) as Record<string, string>,
  });
}

/** The names the dashboard and alarm read; dimensions are {service, stage}. */
export type MetricName = 'Runs' | 'Failures' | 'MigrationsApplied' | 'SeedRowsChanged' | 'DurationMs';

export interface RunMetrics {
  failed: boolean;
  migrationsApplied: number;
  seedRowsChanged: number;
  durationMs: number;
}

/** Publishes one run's metrics as a single EMF record. */
export function publishRunMetrics(stage: string, m: RunMetrics): void {
  const metrics = new Metrics({
    namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? DEFAULT_NAMESPACE,
    serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? SERVICE_NAME,
    defaultDimensions: { stage },
  });
  metrics.addMetric('Runs', MetricUnit.Count, 1);
  metrics.addMetric('Failures', MetricUnit.Count, m.failed ? 1 : 0);
  metrics.addMetric('MigrationsApplied', MetricUnit.Count, m.migrationsApplied);
  metrics.addMetric('SeedRowsChanged', MetricUnit.Count, m.seedRowsChanged);
  metrics.addMetric('DurationMs', MetricUnit.Milliseconds, m.durationMs);
  metrics.publishStoredMetrics();
}
