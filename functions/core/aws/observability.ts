/**
 * Powertools Logger (JSON lines) and Metrics (EMF) for the Lambda handlers. One instance of each per
 * execution environment, created at the first invocation (the library's guidance: cold-start tracking,
 * buffered metrics); the per-run keys (run id, stage, trigger, ...) are reset at every invocation so a warm
 * container never carries the last run's id. Values that could be secret are never passed to them.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';

export const SERVICE_NAME = 'migrator';
export const DEFAULT_NAMESPACE = 'PgTenantMigrator';

export interface RunKeys {
  stage: string;
  trigger: 'deploy' | 'invoke' | 'local';
  runId?: string;
  [key: string]: string | number | boolean | undefined;
}

let shared: { logger: Logger; metrics: Metrics } | undefined;

/** The environment's one Logger and Metrics (read their configuration from the environment once). */
function instances() {
  return (shared ??= {
    logger: new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? SERVICE_NAME }),
    metrics: new Metrics({
      namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? DEFAULT_NAMESPACE,
      serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? SERVICE_NAME,
    }),
  });
}

/**
 * The shared logger with this run's keys only: keys of an earlier invocation are dropped first.
 * Call once at the start of each invocation (again, to replace the keys, when more is known).
 */
export function runLogger(keys: RunKeys, context?: Context): Logger {
  const { logger } = instances();
  logger.resetKeys();
  logger.appendKeys(Object.fromEntries(Object.entries(keys).filter(([, v]) => v !== undefined)) as Record<string, string>);
  if (context) logger.addContext(context);
  return logger;
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
  const { metrics } = instances();
  metrics.setDefaultDimensions({ stage });
  metrics.addMetric('Runs', MetricUnit.Count, 1);
  metrics.addMetric('Failures', MetricUnit.Count, m.failed ? 1 : 0);
  metrics.addMetric('MigrationsApplied', MetricUnit.Count, m.migrationsApplied);
  metrics.addMetric('SeedRowsChanged', MetricUnit.Count, m.seedRowsChanged);
  metrics.addMetric('DurationMs', MetricUnit.Milliseconds, m.durationMs);
  metrics.publishStoredMetrics();
}
