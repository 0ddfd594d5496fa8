/**
 * One item of the fleet's Distributed Map: migrate one target with the same core as a single-database deploy
 * (`runJob`: validate, migrate, record its own `migration_runs` row), inside this invocation's deadlines (a
 * stuck database fails its item, never the fleet's clock), then write the target's ledger entry.
 *
 * A failed target THROWS (error name `TargetFailed`): only a thrown error fails the Map item and counts
 * toward the Map's tolerated failures; a returned failure would be counted as a success.
 */
import type { Context } from 'aws-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type pg from 'pg';
import * as z from 'zod';
import { databaseConfigFromSecret, tlsModeFrom } from '../core/aws/database-secret.ts';
import { createLogger } from '../core/aws/observability.ts';
import { connect, describe } from '../core/db.ts';
import { DynamoDbLedger } from '../core/fleet/dynamodb-ledger.ts';
import type { FleetWave, LedgerEntry, LedgerStore } from '../core/fleet/types.ts';
import { runJob, type JobResult } from '../core/job.ts';
import { redact } from '../core/redact.ts';
import { computeDeadlines } from './deadlines.ts';
import { workerEnv, type WorkerEnv } from './fleet-env.ts';
import { assetLayout } from './runtime.ts';
import { startWatchdog } from './watchdog.ts';

/** What the Map's ItemSelector hands each item. */
export const WorkerEvent = z.object({
  target: z.object({ name: z.string().min(1), secretId: z.string().min(1) }),
  executionId: z.string().min(1),
  wave: z.enum(['canary', 'rest']),
  trigger: z.enum(['deploy', 'invoke', 'local']).default('invoke'),
});
export type WorkerEvent = z.input<typeof WorkerEvent>;

export interface WorkerResult {
  target: string;
  outcome: 'succeeded';
  runId: string;
  appliedCount: number;
  lastMigration: string | null;
}

/** The error a failed target ends its Map item with; Step Functions sees its name as the error. */
export class TargetFailedError extends Error {
  override name = 'TargetFailed';
}

export interface FleetWorkerDeps {
  /** Ledger to write; default DynamoDB (LEDGER_TABLE). The local driver passes an in-process one. */
  ledger?: LedgerStore;
  secrets?: SecretsManagerClient;
}

export function createFleetWorker(deps: FleetWorkerDeps = {}) {
  let ledger = deps.ledger;
  let secrets = deps.secrets;
  return async function fleetWorker(raw: unknown, context: Context): Promise<WorkerResult> {
    const env = workerEnv();
    const parsed = WorkerEvent.safeParse(raw);
    if (!parsed.success) throw new Error(`Fleet worker: bad event (${parsed.error.issues.map((i) => i.path.join('.')).join(', ')})`);
    const event = parsed.data;
    ledger ??= new DynamoDbLedger({ tableName: env.LEDGER_TABLE, retentionDays: env.LEDGER_RETENTION_DAYS });
    secrets ??= new SecretsManagerClient({});
    return migrateTarget(event, context, env, ledger, secrets);
  };
}

async function migrateTarget(
  event: z.output<typeof WorkerEvent>,
  context: Context,
  env: WorkerEnv,
  ledger: LedgerStore,
  secrets: SecretsManagerClient,
): Promise<WorkerResult> {
  const started = Date.now();
  const { target, executionId, wave } = event;
  // The execution ARN is a persistent key: every log line of every worker can be found by execution.
  const logger = createLogger({ stage: env.STAGE, trigger: event.trigger, executionArn: executionId, target: target.name, wave });
  logger.addContext(context);
  const deadlines = computeDeadlines(context.getRemainingTimeInMillis(), {
    connectMs: env.CONNECT_TIMEOUT_MS,
    lockWaitMs: env.LOCK_WAIT_TIMEOUT_MS,
    lockTimeoutMs: env.LOCK_TIMEOUT_MS,
    statementMs: env.STATEMENT_TIMEOUT_MS,
  });
  const asset = assetLayout({ ASSET_DIR: env.ASSET_DIR } as Parameters<typeof assetLayout>[0]);

  let job: JobResult | undefined;
  let failure: Error | undefined;
  let runId = '';
  let client: pg.Client | undefined;
  try {
    const config = await databaseConfigFromSecret({ secretId: target.secretId, client: secrets, tls: tlsModeFrom(env.DB_TLS), caFile: env.RDS_CA_FILE });
    logger.info('connecting', { database: describe(config) });
    client = await connect(config, {
      connectTimeoutMs: deadlines.connectTimeoutMs,
      retries: deadlines.connectRetries,
      initialDelayMs: deadlines.connectInitialDelayMs,
      maxDelayMs: deadlines.connectMaxDelayMs,
      applicationName: `migrator-fleet-${env.STAGE}`,
      onRetry: ({ attempt, delayMs, error }) => logger.warn('connect failed, retrying', { attempt, delayMs, error: redact(error.message) }),
    });
    const watchdog = startWatchdog(client, config, deadlines.hardStopAt, (what) => logger.error(what));
    runId = crypto.randomUUID();
    try {
      job = await runJob({
        target: { client, dir: asset.migrationsDir, migrationsTable: env.MIGRATIONS_TABLE },
        trigger: event.trigger,
        stage: env.STAGE,
        actor: `fleet:${executionId}`,
        command: `fleet:${wave}`,
        runId,
        lockWaitTimeoutMs: deadlines.lockWaitTimeoutMs,
        lockTimeoutMs: deadlines.lockTimeoutMs,
        statementTimeoutMs: deadlines.statementTimeoutMs,
        log: (line) => logger.info(line, { runId }),
      });
    } catch (e) {
      if (watchdog.fired) (e as Error).message = `Stopped at the invocation deadline (${Math.round((Date.now() - started) / 1000)} s): ${(e as Error).message}`;
      throw e;
    } finally {
      watchdog.stop();
    }
  } catch (e) {
    failure = e as Error;
  } finally {
    await client?.end().catch(() => {});
  }

  const durationMs = Date.now() - started;
  const entry: LedgerEntry = {
    executionId,
    target: target.name,
    secretId: target.secretId,
    wave,
    runId: job?.runId ?? runId,
    outcome: failure ? 'failed' : 'succeeded',
    migrationsApplied: job?.applied ?? [],
    lastMigration: job?.lastMigration ?? null,
    durationMs,
    finishedAt: new Date().toISOString(),
    ...(failure ? { error: redact(failure.message).replace(/\s+/g, ' ').trim().slice(0, 2000), errorName: failure.name } : {}),
  };
  // Without its ledger entry a target's outcome would be unknown: a failed write fails the item.
  await ledger.record(entry);

  if (failure) {
    logger.error('target failed', { outcome: 'failed', runId: entry.runId, durationMs, errorName: failure.name, error: entry.error });
    throw new TargetFailedError(`${target.name}: ${entry.error}`);
  }
  logger.info('target migrated', { outcome: 'succeeded', runId: entry.runId, appliedCount: entry.migrationsApplied.length, lastMigration: entry.lastMigration, durationMs });
  return { target: target.name, outcome: 'succeeded', runId: entry.runId, appliedCount: entry.migrationsApplied.length, lastMigration: entry.lastMigration };
}

export const fleetWorker = createFleetWorker();
