/**
 * One item of the fleet's Distributed Map: migrate one target with the same core as a single-database deploy
 * (`runJob`: validate, migrate, record its own `migration_runs` row), inside this invocation's deadlines (a
 * stuck database fails its item, never the fleet's clock), then write the target's ledger entry.
 *
 * A failed target THROWS (error name `TargetFailed`): only a thrown error fails the Map item and counts
 * toward the Map's tolerated failures; a returned failure would be counted as a success.
 */
import type { Context } from 'aws-lambda';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { awsClientConfig } from '../core/aws/clients.ts';
import { DynamoDbLedger } from '../core/fleet/dynamodb-ledger.ts';
import type { LedgerEntry, LedgerStore } from '../core/fleet/types.ts';
import { runJob, type JobResult } from '../core/job.ts';
import { redact } from '../core/redact.ts';
import { computeDeadlines } from './deadlines.ts';
import { workerEnv, type WorkerEnv } from './fleet-env.ts';
import { fleetLogger } from './fleet-log.ts';
import { assetLayout, closeLostRun, connectFromSecret, type HandlerEnv } from './runtime.ts';
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
}

export function createFleetWorker(deps: FleetWorkerDeps = {}) {
  return async function fleetWorker(raw: unknown, context: Context): Promise<WorkerResult> {
    const env = workerEnv();
    const parsed = WorkerEvent.safeParse(raw);
    if (!parsed.success) throw new Error(`Fleet worker: bad event (${parsed.error.issues.map((i) => i.path.join('.')).join(', ')})`);
    return migrateTarget(parsed.data, context, env, deps.ledger);
  };
}

async function migrateTarget(
  event: z.output<typeof WorkerEvent>,
  context: Context,
  env: WorkerEnv,
  injected: LedgerStore | undefined,
): Promise<WorkerResult> {
  const started = Date.now();
  const { target, executionId, wave } = event;
  const runId = randomUUID();
  // The execution ARN is a persistent key: every log line of every worker can be found by execution.
  const logger = fleetLogger({ stage: env.STAGE, trigger: event.trigger, executionArn: executionId, target: target.name, wave, runId }, context);
  const deadlines = computeDeadlines(context.getRemainingTimeInMillis(), {
    connectMs: env.CONNECT_TIMEOUT_MS,
    lockWaitMs: env.LOCK_WAIT_TIMEOUT_MS,
    lockTimeoutMs: env.LOCK_TIMEOUT_MS,
    statementMs: env.STATEMENT_TIMEOUT_MS,
  });
  const asset = assetLayout({ ASSET_DIR: env.ASSET_DIR } as HandlerEnv);
  // One budget for the invocation, as for a single database: the secret read, connect and every statement
  // end by the hard stop; the watchdog aborts AWS calls and cancels the statement there.
  const watchdog = startWatchdog(deadlines.hardStopAt, (what) => logger.error(what));
  const actor = `fleet:${executionId}`;
  const command = `fleet:${wave}`;

  let job: JobResult | undefined;
  let failure: Error | undefined;
  let connection: Awaited<ReturnType<typeof connectFromSecret>> | undefined;
  try {
    // The target's own secret: the same bounded read-and-connect path as a single database's.
    const targetEnv = { DB_SECRET_ARN: target.secretId, DB_TLS: env.DB_TLS, RDS_CA_FILE: env.RDS_CA_FILE } as HandlerEnv;
    connection = await connectFromSecret(targetEnv, deadlines, logger, { runId, signal: watchdog.signal });
    watchdog.attach(connection.client, connection.config);
    job = await runJob({
      target: { client: connection.client, dir: asset.migrationsDir, migrationsTable: env.MIGRATIONS_TABLE, runsTable: env.RUNS_TABLE },
      trigger: event.trigger,
      stage: env.STAGE,
      actor,
      command,
      runId,
      lockWaitTimeoutMs: deadlines.lockWaitTimeoutMs,
      lockTimeoutMs: deadlines.lockTimeoutMs,
      statementTimeoutMs: deadlines.statementTimeoutMs,
      log: (line) => logger.info(line),
    });
  } catch (e) {
    failure = e as Error;
  } finally {
    watchdog.stop();
    await connection?.client.end().catch(() => {});
  }
  if (failure && watchdog.fired) failure.message = `Stopped at the invocation deadline (${Math.round((Date.now() - started) / 1000)} s): ${failure.message}`;
  if (failure && connection) {
    const lost = { runId, trigger: event.trigger === 'deploy' ? ('deploy' as const) : ('invoke' as const), stage: env.STAGE, actor, command, message: failure.message };
    if (await closeLostRun(connection.config, lost, env.RUNS_TABLE)) logger.warn('run row closed as failed on a fresh connection (the session was lost)');
  }

  const durationMs = Date.now() - started;
  const entry: LedgerEntry = {
    executionId,
    target: target.name,
    secretId: target.secretId,
    wave,
    // No connection, no run row: the ledger says so with an empty run id.
    runId: connection ? runId : '',
    outcome: failure ? 'failed' : 'succeeded',
    migrationsApplied: job?.applied ?? [],
    lastMigration: job?.lastMigration ?? null,
    durationMs,
    finishedAt: new Date().toISOString(),
    ...(failure ? { error: redact(failure.message).replace(/\s+/g, ' ').trim().slice(0, 2000), errorName: failure.name } : {}),
  };
  // Without its ledger entry a target's outcome would be unknown: a failed write fails the item. The write
  // has the AWS call deadlines but not the hard-stop signal (it must still happen after the watchdog fired).
  const ledgerClient = injected ? undefined : new DynamoDBClient(awsClientConfig(deadlines.aws));
  try {
    await (injected ?? new DynamoDbLedger({ tableName: env.LEDGER_TABLE, retentionDays: env.LEDGER_RETENTION_DAYS, client: ledgerClient })).record(entry);
  } finally {
    ledgerClient?.destroy();
  }

  if (failure) {
    logger.error('target failed', { outcome: 'failed', durationMs, errorName: failure.name, error: entry.error });
    throw new TargetFailedError(`${target.name}: ${entry.error}`);
  }
  logger.info('target migrated', { outcome: 'succeeded', appliedCount: entry.migrationsApplied.length, lastMigration: entry.lastMigration, durationMs });
  return { target: target.name, outcome: 'succeeded', runId: entry.runId, appliedCount: entry.migrationsApplied.length, lastMigration: entry.lastMigration };
}

export const fleetWorker = createFleetWorker();
