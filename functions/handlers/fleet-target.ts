/**
 * One fleet target's run, shared by its two runners so both take the same locks and deadlines:
 * - the Map's Lambda worker (fleet-worker.ts), inside one invocation's time;
 * - the CodeBuild build for long-running migrations (fleet-build.ts, `node build.mjs up`), inside the
 *   build's timeout.
 *
 * Connect through the target's own secret (bounded), migrate with `runJob` (validate, take the migration
 * lock with its wait deadline, apply, seed with `seed()` when the fleet has seeds, record the target's own
 * `migration_runs` row), then write the target's ledger entry. The Lambda runner first looks for pending migrations marked long-running: it then migrates
 * nothing, records the target as `running` in CodeBuild and tells the state machine to hand it over.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Logger } from '@aws-lambda-powertools/logger';
import * as z from 'zod';
import { awsClientConfig } from '../core/aws/clients.ts';
import { MigratorError } from '../core/errors.ts';
import { DynamoDbLedger } from '../core/fleet/dynamodb-ledger.ts';
import type { LedgerEntry, LedgerStore, TargetRunner } from '../core/fleet/types.ts';
import { runJob, type JobResult } from '../core/job.ts';
import { describeHolder, migrationLockHolders } from '../core/migrate/lock-holder.ts';
import { longRunningNames, pendingFiles, runsInTransaction } from '../core/migrate/long-running.ts';
import type { MigrationFile } from '../core/migrate/files.ts';
import { tablesOf } from '../core/migrate/state.ts';
import { redact } from '../core/redact.ts';
import { deploySeedStep, withSeedClients } from './seed-step.ts';
import { computeDeadlines } from './deadlines.ts';
import type { WorkerEnv } from './fleet-env.ts';
import { assetLayout, closeLostRun, connectFromSecret, type HandlerEnv } from './runtime.ts';
import { startWatchdog } from './watchdog.ts';

/** What the Map's ItemSelector hands each item (and the build gets as environment overrides). */
export const WorkerEvent = z.object({
  target: z.object({ name: z.string().min(1), secretId: z.string().min(1) }),
  executionId: z.string().min(1),
  wave: z.enum(['canary', 'rest']),
  trigger: z.enum(['deploy', 'invoke', 'local']).default('invoke'),
});
export type WorkerEvent = z.input<typeof WorkerEvent>;

export interface WorkerResult {
  target: string;
  /**
   * `long-running`: pending migrations are marked long-running; nothing ran here, the state machine's
   * Choice hands the target to the CodeBuild task (the same Map item, so the tolerance still counts it).
   */
  outcome: 'succeeded' | 'long-running';
  runId: string;
  appliedCount: number;
  lastMigration: string | null;
  /**
   * Outcome `long-running`: the pending migrations marked long-running (`marked`), or the migration the
   * invocation ran out of time in (`out-of-time`; rolled back, the build goes on from it).
   */
  longRunning?: string[];
  reason?: 'marked' | 'out-of-time';
}

/** The error a failed target ends its Map item with; Step Functions sees its name as the error. */
export class TargetFailedError extends Error {
  override name = 'TargetFailed';
}

/** A long-running target whose migration lock is held: an earlier run (a build still migrating it) owns it. */
export class TargetBusyError extends MigratorError {
  override name = 'TargetBusy';
}

export interface RunTargetOptions {
  event: z.output<typeof WorkerEvent>;
  env: WorkerEnv;
  runner: TargetRunner;
  /** Time this runner has left (Lambda: getRemainingTimeInMillis; CodeBuild: the build budget left). */
  remainingMs: number;
  logger: Logger;
  /** Ledger to write; default DynamoDB (LEDGER_TABLE). */
  ledger?: LedgerStore;
  /** The CodeBuild build id (runner `codebuild`). */
  buildId?: string;
  /** Run id of the target's `migration_runs` row (also in the logger's keys). */
  runId: string;
}

export async function runTarget(o: RunTargetOptions): Promise<WorkerResult> {
  const { event, env, logger } = o;
  const started = Date.now();
  const { target, executionId, wave } = event;
  const runId = o.runId;
  const deadlines = computeDeadlines(o.remainingMs, {
    connectMs: env.CONNECT_TIMEOUT_MS,
    lockWaitMs: env.LOCK_WAIT_TIMEOUT_MS,
    lockTimeoutMs: env.LOCK_TIMEOUT_MS,
    statementMs: env.STATEMENT_TIMEOUT_MS,
  });
  const asset = assetLayout({ ASSET_DIR: env.ASSET_DIR } as HandlerEnv);
  // One budget for the run, as for a single database: the secret read, connect and every statement end by
  // the hard stop; the watchdog aborts AWS calls and cancels the statement there.
  const watchdog = startWatchdog(deadlines.hardStopAt, (what) => logger.error(what));
  const actor = `fleet:${executionId}`;
  const command = o.runner === 'codebuild' ? `fleet:${wave}:codebuild` : `fleet:${wave}`;

  let job: JobResult | undefined;
  let longRunning: string[] = [];
  let failure: Error | undefined;
  let connection: Awaited<ReturnType<typeof connectFromSecret>> | undefined;
  let ranJob = false;
  let outOfTimeAt: string | undefined;
  let folder: { files: MigrationFile[]; pending: MigrationFile[] } | undefined;
  /** Migrations this run applied (reported in their transaction): where an interrupted run stopped. */
  const appliedNow: string[] = [];
  try {
    // The target's own secret: the same bounded read-and-connect path as a single database's.
    const targetEnv = { DB_SECRET_ARN: target.secretId, DB_TLS: env.DB_TLS, RDS_CA_FILE: env.RDS_CA_FILE } as HandlerEnv;
    connection = await connectFromSecret(targetEnv, deadlines, logger, { runId, signal: watchdog.signal });
    watchdog.attach(connection.client, connection.config);
    const migrationTarget = { client: connection.client, dir: asset.migrationsDir, migrationsTable: env.MIGRATIONS_TABLE, runsTable: env.RUNS_TABLE };
    if (o.runner === 'lambda') {
      // Read-only: the files' markers and which of them this database has not applied.
      folder = await pendingFiles(migrationTarget);
      longRunning = await longRunningNames(folder.pending);
      if (longRunning.length > 0 && env.LONG_RUNNING === 'off') {
        throw new MigratorError(
          `pending migration(s) ${longRunning.join(', ')} are marked long-running, but this fleet has no long-running runner (longRunning: false). ` +
            'Nothing was changed. Enable longRunning on DatabaseFleetMigrations, or remove the marker if the migration fits in one Lambda invocation.',
        );
      }
      if (longRunning.length > 0) {
        // A build of an earlier execution may still be migrating this target (the deploy that started it
        // stopped waiting). Its lock says so: refuse now, naming it, rather than start a second build
        // that could only wait for the same lock.
        const holders = await migrationLockHolders(connection.client, tablesOf(migrationTarget));
        if (holders.length > 0) {
          // What matters first: deploy reasons keep only the start of each target's error.
          throw new TargetBusyError(
            `an earlier run is still migrating this target (pending long-running: ${longRunning.join(', ')}), so this execution does not start a second one. ` +
              `Nothing was changed. Its migration lock is held by ${describeHolder(holders[0]!)}. ` +
              'Wait for that run to end (`migrator fleet status`; its run id is in the application_name) and run the fleet again.',
          );
        }
      }
    }
    if (longRunning.length === 0) {
      ranJob = true;
      // The same seed() as a single database's deploy, with this run's deadlines; the target's name is its
      // secret namespace, so tenants' API-key secrets of different targets never collide.
      job = await withSeedClients(Boolean(env.SEEDS_ENABLED), { ...deadlines.aws, signal: watchdog.signal }, (seedAws) =>
        runJob({
          target: migrationTarget,
          trigger: event.trigger,
          stage: env.STAGE,
          actor,
          command,
          runId,
          lockWaitTimeoutMs: deadlines.lockWaitTimeoutMs,
          lockTimeoutMs: deadlines.lockTimeoutMs,
          statementTimeoutMs: deadlines.statementTimeoutMs,
          log: (line) => logger.info(line),
          onMigration: (m) => void (m.direction === 'up' && appliedNow.push(m.name)),
          seed: seedAws
            ? deploySeedStep({
                stage: env.STAGE,
                dir: asset.seedsDir,
                ...(env.SEED_TENANTS === 'target' ? { tenants: [target.name] } : {}),
                kmsKeyId: env.KMS_KEY_ARN,
                actor,
                aws: seedAws,
                secretNamespace: secretNamespaceOf(target.name),
                deadlines,
                log: (line) => logger.info(line),
              })
            : undefined,
        }),
      );
    }
  } catch (e) {
    failure = e as Error;
  } finally {
    watchdog.stop();
    await connection?.client.end().catch(() => {});
  }
  if (failure && watchdog.fired) failure.message = `Stopped at the ${o.runner === 'codebuild' ? 'build' : 'invocation'} deadline (${Math.round((Date.now() - started) / 1000)} s): ${failure.message}`;
  if (failure && connection && ranJob) {
    const lost = { runId, trigger: event.trigger === 'deploy' ? ('deploy' as const) : ('invoke' as const), stage: env.STAGE, actor, command, message: failure.message };
    if (await closeLostRun(connection.config, lost, env.RUNS_TABLE)) logger.warn('run row closed as failed on a fresh connection (the session was lost)');
  }

  // A run that did not fit: stopped by the invocation's statement timeout or deadline inside a migration
  // that runs in its own transaction (rolled back: nothing of it stayed). It goes to CodeBuild, which goes
  // on from the first migration not applied. A migration without a transaction, stopped half-way, is not
  // resumed blindly: it fails, and the message says to mark it.
  if (failure && ranJob && o.runner === 'lambda' && env.LONG_RUNNING === 'codebuild' && folder && outOfTime(failure, watchdog.fired)) {
    const interrupted = folder.pending.find((f) => !appliedNow.includes(f.name));
    if (!interrupted || (await runsInTransaction(folder.files, interrupted))) {
      logger.warn('the run did not fit in this invocation: handing the target to CodeBuild', { interrupted: interrupted?.name, appliedNow, error: failure.message });
      outOfTimeAt = interrupted?.name ?? '(seed)';
      longRunning = [outOfTimeAt];
      failure = undefined;
    } else {
      failure.message += ` (${interrupted.name} runs without a transaction, so it is not resumed elsewhere: check what it left, then mark it \`-- migrator:long-running\` so the fleet runs it in CodeBuild.)`;
    }
  }

  const handOff = !failure && longRunning.length > 0;
  const durationMs = Date.now() - started;
  const entry: LedgerEntry = {
    executionId,
    target: target.name,
    secretId: target.secretId,
    wave,
    // No run row (no connection, or handed over before running): the ledger says so with an empty run id.
    runId: connection && ranJob ? runId : '',
    outcome: failure ? 'failed' : handOff ? 'running' : 'succeeded',
    migrationsApplied: job?.applied ?? (outOfTimeAt ? appliedNow : []),
    lastMigration: job?.lastMigration ?? null,
    durationMs,
    finishedAt: new Date().toISOString(),
    runner: handOff ? 'codebuild' : o.runner,
    ...(longRunning.length ? { longRunning } : {}),
    ...(outOfTimeAt ? { error: `did not fit in one Lambda invocation (stopped in ${outOfTimeAt}, rolled back); continued in CodeBuild`, errorName: 'OutOfTime' } : {}),
    ...(o.buildId ? { buildId: o.buildId } : {}),
    ...(failure ? { error: redact(failure.message).replace(/\s+/g, ' ').trim().slice(0, 2000), errorName: failure.name } : {}),
  };
  // Without its ledger entry a target's outcome would be unknown: a failed write fails the item. The write
  // has the AWS call deadlines but not the hard-stop signal (it must still happen after the watchdog fired).
  const ledgerClient = o.ledger ? undefined : new DynamoDBClient(awsClientConfig(deadlines.aws));
  try {
    await (o.ledger ?? new DynamoDbLedger({ tableName: env.LEDGER_TABLE, retentionDays: env.LEDGER_RETENTION_DAYS, client: ledgerClient })).record(entry);
  } finally {
    ledgerClient?.destroy();
  }

  if (failure) {
    logger.error('target failed', { outcome: 'failed', runner: o.runner, durationMs, errorName: failure.name, error: entry.error });
    throw new TargetFailedError(`${target.name}: ${entry.error}`);
  }
  if (handOff) {
    logger.info('handing the target to CodeBuild', { outcome: 'long-running', longRunning, reason: outOfTimeAt ? 'out-of-time' : 'marked' });
    return {
      target: target.name,
      outcome: 'long-running',
      runId: outOfTimeAt ? runId : '',
      appliedCount: appliedNow.length,
      lastMigration: appliedNow.at(-1) ?? null,
      longRunning,
      reason: outOfTimeAt ? 'out-of-time' : 'marked',
    };
  }
  logger.info('target migrated', { outcome: 'succeeded', runner: o.runner, appliedCount: entry.migrationsApplied.length, lastMigration: entry.lastMigration, durationMs });
  return { target: target.name, outcome: 'succeeded', runId: entry.runId, appliedCount: entry.migrationsApplied.length, lastMigration: entry.lastMigration };
}

/**
 * A target's segment in its tenants' API-key secret names: its name in lowercase, any character a secret
 * name segment should not hold (target names allow '.', '_', '/') as '-'.
 */
export function secretNamespaceOf(target: string): string {
  return target.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63) || 'target';
}

/** The invocation's own time limits stopped the run (not the application's locks, not bad SQL). */
function outOfTime(error: Error, watchdogFired: boolean): boolean {
  return watchdogFired || /canceling statement due to statement timeout/.test(error.message);
}
