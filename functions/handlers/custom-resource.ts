/**
 * CloudFormation custom resource (through the CDK Provider framework): Create and Update validate, migrate up
 * and seed; Delete drops nothing; the rollback Update after a failed stack update is recognised (from the
 * stack status CloudFormation reports, so without the database) and skipped.
 * A thin shell over the same core as the CLI (runJob, seed).
 *
 * Contract with the Provider framework: returning means SUCCESS, throwing means FAILED with the error's
 * message (and stack, which we keep to the message) as the Reason.
 */
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { runJob, type JobResult } from '../core/job.ts';
import { status } from '../core/migrate/engine.ts';
import { deploySeedStep, withSeedClients } from './seed-step.ts';
import { loadSeeds } from '../core/seed/load.ts';
import type { SeedSummary } from '../core/seed/report.ts';
import { publishRunMetrics, runLogger } from '../core/aws/observability.ts';
import { stackPhase } from '../core/aws/stack-status.ts';
import { computeDeadlines } from './deadlines.ts';
import { failureReason, reasonError, redact } from './reason.ts';
import { deployCommand, deployHistory, judgeUpdate, type Fingerprint } from './rollback.ts';
import { assetLayout, closeLostRun, configuredTimeouts, connectFromSecret, readEnv } from './runtime.ts';
import { startWatchdog } from './watchdog.ts';

/** What the Provider framework expects back. Data stays far below CloudFormation's 4 KB response. */
export interface OnEventResponse {
  PhysicalResourceId: string;
  Data?: Record<string, string>;
}

/** Properties set by DatabaseMigrations; CloudFormation delivers every scalar as a string. */
const Props = z.object({
  ServiceToken: z.string().optional(),
  Stage: z.string().min(1),
  ContentHash: z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 hex digest'),
  MigrationCount: z.string().regex(/^\d+$/).optional(),
  SeedFileCount: z.string().regex(/^\d+$/).optional(),
  RunOn: z.enum(['every-deploy', 'content-change']).default('every-deploy'),
  ResourceName: z.string().min(1),
  DeployNonce: z.string().optional(),
  /** Newest migration in this content (set by the construct; the rollback answer without a database). */
  LastMigration: z.string().optional(),
});
type Props = z.output<typeof Props>;

function parseProps(raw: unknown, which: string): Props {
  const parsed = Props.safeParse(raw);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw reasonError(`Invalid ${which} of Custom::DatabaseMigrations: ${fields}`);
  }
  return parsed.data;
}

const fingerprint = (p: Props): Fingerprint => ({ contentHash: p.ContentHash, nonce: p.DeployNonce ?? '' });

export async function onEvent(event: CloudFormationCustomResourceEvent, context: Context): Promise<OnEventResponse> {
  try {
    return await handle(event, context);
  } catch (e) {
    // Anything unexpected (configuration, asset) still fails the deploy with a short, stack-free reason.
    if ((e as Error).name === 'MigrationFailed') throw e;
    const err = e as Error;
    runLogger({ stage: process.env.STAGE ?? '?', trigger: 'deploy' }, context).error('custom resource failed before the run', { error: redact(err.message) });
    throw reasonError(failureReason({ message: err.message, logGroupName: context.logGroupName, logStreamName: context.logStreamName }));
  }
}

async function handle(event: CloudFormationCustomResourceEvent, context: Context): Promise<OnEventResponse> {
  if (event.RequestType === 'Delete') {
    // Nothing is dropped: the schema and data belong to the database, which outlives this resource.
    // Handled before anything is read or checked, so nothing (not even a misconfiguration) blocks a stack delete.
    const logger = runLogger({ stage: process.env.STAGE ?? '?', trigger: 'deploy', requestType: 'Delete' }, context);
    logger.info('delete: nothing to do, the database is left as it is', { outcome: 'skipped', physicalId: event.PhysicalResourceId });
    return { PhysicalResourceId: event.PhysicalResourceId, Data: { RunId: '', AppliedCount: '0', LastMigration: '', Skipped: 'delete' } };
  }
  const env = readEnv();
  const props = parseProps(event.ResourceProperties, 'ResourceProperties');
  // Stable for the resource's life: an Update never replaces it, so CloudFormation never sends a Delete for it.
  const physicalId = event.RequestType === 'Create' ? `db-migrations:${props.Stage}:${props.ResourceName}` : event.PhysicalResourceId;
  const runId = randomUUID();
  const logger = runLogger({ stage: env.STAGE, trigger: 'deploy', runId, requestType: event.RequestType, resource: props.ResourceName }, context);

  if (props.Stage !== env.STAGE) {
    throw reasonError(`Custom::DatabaseMigrations asks for stage "${props.Stage}" but this function serves "${env.STAGE}"; refusing.`);
  }

  const asset = assetLayout(env);
  const actor = `cloudformation:${props.ResourceName}`;
  const deadlines = computeDeadlines(context.getRemainingTimeInMillis(), configuredTimeouts(env));
  // One budget for the whole invocation: from here on every wait (AWS calls, connect, statements) ends by the hard stop.
  const watchdog = startWatchdog(deadlines.hardStopAt, (what) => logger.error(what, { runId }));
  const aws = { ...deadlines.aws, signal: watchdog.signal };
  try {
    return await run();
  } finally {
    watchdog.stop();
  }

  async function run(): Promise<OnEventResponse> {
    let legacyRollbackCheck = false;
    const old = event.RequestType === 'Update' ? fingerprint(parseProps(event.OldResourceProperties, 'OldResourceProperties')) : undefined;
    if (old) {
      // The stack's own status is the authoritative rollback signal and needs no database.
      const stack = await stackPhase(event.StackId, aws);
      if (stack.phase === 'rollback') return skipRollback(`CloudFormation reports the stack as ${stack.status}`);
      if (stack.phase === 'forward') {
        if (props.ContentHash !== asset.manifest.contentHash) {
          throw reasonError(
            `Stack ${stack.status}: the properties ask for content ${props.ContentHash.slice(0, 12)} but this function carries ${asset.manifest.contentHash.slice(0, 12)}; refusing to run other content than requested.`,
          );
        }
      } else {
        // No answer (no endpoint or permission, a timeout): fall back to the properties and the run history.
        logger.warn('could not read the stack status; judging the update by its properties and the run history', { error: stack.error });
        const quick = judgeUpdate({ requested: fingerprint(props), old, bundledContentHash: asset.manifest.contentHash, history: [] });
        if (quick.rollback) return skipRollback(quick.why!);
        legacyRollbackCheck = true;
      }
    }

    const started = Date.now();
    let job: JobResult | undefined;
    let failure: Error | undefined;
    let connection: Awaited<ReturnType<typeof connectFromSecret>> | undefined;
    try {
      // Seed files are validated before connecting: invalid seeds migrate nothing and write nothing
      // (inside the try, so the refusal is logged and counted as a failed run like any other).
      const seedSet = env.SEEDS_ENABLED ? loadSeeds({ dir: asset.seedsDir, stage: env.STAGE }) : undefined;
      connection = await connectFromSecret(env, deadlines, logger, { runId, signal: watchdog.signal });
      const { client } = connection;
      watchdog.attach(client, connection.config);

      if (old && legacyRollbackCheck) {
        const history = await deployHistory(client, actor, { runsTable: env.RUNS_TABLE });
        const verdict = judgeUpdate({ requested: fingerprint(props), old, bundledContentHash: asset.manifest.contentHash, history });
        if (verdict.rollback) {
          const current = await status({ client, dir: asset.migrationsDir, migrationsTable: env.MIGRATIONS_TABLE });
          return skipRollback(verdict.why!, { notInAsset: current.problems.filter((p) => p.kind === 'deleted').map((p) => p.name), lastMigration: current.applied.at(-1)?.name ?? '' });
        }
      }

      job = await withSeedClients(Boolean(env.SEEDS_ENABLED), aws, (seedAws) =>
        runJob({
          target: { client, dir: asset.migrationsDir, migrationsTable: env.MIGRATIONS_TABLE, runsTable: env.RUNS_TABLE },
          trigger: 'deploy',
          stage: env.STAGE,
          actor,
          command: deployCommand(event.RequestType, fingerprint(props)),
          fingerprint: fingerprint(props),
          runId,
          lockWaitTimeoutMs: deadlines.lockWaitTimeoutMs,
          lockTimeoutMs: deadlines.lockTimeoutMs,
          statementTimeoutMs: deadlines.statementTimeoutMs,
          log: (line) => logger.info(line),
          seed: seedAws && seedSet
            ? deploySeedStep({
                stage: env.STAGE,
                seedSet,
                kmsKeyId: env.KMS_KEY_ARN,
                actor,
                aws: seedAws,
                secretNamespace: env.TENANT_SECRET_NAMESPACE,
                deadlines,
                log: (line) => logger.info(line),
              })
            : undefined,
        }),
      );
    } catch (e) {
      failure = e as Error;
    } finally {
      await connection?.client.end().catch(() => {});
    }
    if (failure && watchdog.fired) {
      // Name the real cause: the work was stopped because the invocation was about to time out.
      failure.message = `Stopped at the invocation deadline (${Math.round((Date.now() - started) / 1000)} s): ${failure.message}`;
    }
    if (failure && connection) {
      const lost = { runId, trigger: 'deploy' as const, stage: env.STAGE, actor, command: deployCommand(event.RequestType, fingerprint(props)), fingerprint: fingerprint(props), message: failure.message };
      if (await closeLostRun(connection.config, lost, env.RUNS_TABLE)) logger.warn('run row closed as failed on a fresh connection (the session was lost)');
    }

    const durationMs = Date.now() - started;
    const seedSummary = job?.seed as SeedSummary | undefined;
    publishRunMetrics(env.STAGE, {
      failed: Boolean(failure),
      migrationsApplied: job?.applied.length ?? 0,
      seedRowsChanged: seedSummary?.rowsWritten ?? 0,
      durationMs,
    });

    if (failure) {
      const details = failureDetails(failure);
      logger.error('run failed', { outcome: 'failed', durationMs, ...details, error: redact(failure.message) });
      throw reasonError(
        failureReason({ message: failure.message, runId, logGroupName: context.logGroupName, logStreamName: context.logStreamName }),
      );
    }

    logSeedChangesPerTenant(logger, seedSummary);
    logger.info('run succeeded', {
      outcome: 'succeeded',
      appliedCount: job!.applied.length,
      applied: job!.applied,
      lastMigration: job!.lastMigration,
      rowsChanged: seedSummary?.rowsWritten ?? 0,
      durationMs,
    });
    return {
      PhysicalResourceId: physicalId,
      Data: {
        RunId: job!.runId,
        AppliedCount: String(job!.applied.length),
        LastMigration: job!.lastMigration ?? '',
      },
    };
  }

  /**
   * The rollback Update: nothing runs (no down migration, nothing destroyed) and it always succeeds, so an
   * unreachable database can never leave the stack in UPDATE_ROLLBACK_FAILED. The database is asked (one
   * short attempt) only for the LastMigration attribute; without it the answer carries the last-known value.
   */
  async function skipRollback(why: string, known?: { notInAsset: string[]; lastMigration: string }): Promise<OnEventResponse> {
    let current = known;
    let databaseError: string | undefined;
    if (!current) {
      let connection: Awaited<ReturnType<typeof connectFromSecret>> | undefined;
      try {
        connection = await connectFromSecret(env, { ...deadlines, connectTimeoutMs: Math.min(deadlines.connectTimeoutMs, 5_000) }, logger, { runId, signal: watchdog.signal, retries: 0 });
        watchdog.attach(connection.client, connection.config);
        const s = await status({ client: connection.client, dir: asset.migrationsDir, migrationsTable: env.MIGRATIONS_TABLE });
        current = { notInAsset: s.problems.filter((p) => p.kind === 'deleted').map((p) => p.name), lastMigration: s.applied.at(-1)?.name ?? '' };
      } catch (e) {
        databaseError = redact((e as Error).message);
      } finally {
        await connection?.client.end().catch(() => {});
      }
    }
    const lastMigration = current?.lastMigration ?? lastKnownMigration();
    const fields = {
      outcome: 'skipped',
      why,
      requestedContentHash: props.ContentHash,
      bundledContentHash: asset.manifest.contentHash,
      appliedButNotInAsset: current?.notInAsset ?? [],
      lastMigration,
    };
    if (databaseError) {
      logger.warn('rollback update: skipped without the database (it could not be reached); nothing was run, the next deploy migrates', { ...fields, databaseError });
    } else {
      logger.warn('rollback update: skipped; no down migration runs and nothing is destroyed', fields);
    }
    return {
      PhysicalResourceId: physicalId,
      Data: { RunId: '', AppliedCount: '0', LastMigration: lastMigration, Skipped: 'rollback', ...(databaseError ? { DatabaseReached: 'false' } : {}) },
    };
  }

  /**
   * Without the database: the newest migration of the content being rolled back to, i.e. what the deploy of
   * those properties answered (the construct sets it as a property; older templates lack it, then the asset's
   * own list is used when it is that content). Migrations the failed update applied may be newer.
   */
  function lastKnownMigration(): string {
    if (props.LastMigration) return props.LastMigration;
    if (props.ContentHash === asset.manifest.contentHash) return migrationName(asset.manifest.migrations.at(-1) ?? '');
    return 'unknown';
  }
}

/** A migration's name from its file name (what node-pg-migrate records). */
export function migrationName(file: string): string {
  return file.replace(/\.(up\.sql|sql|ts|mts|cts|js|mjs|cjs)$/, '');
}

/** Typed fields of the core's errors, for structured logs (never connection details or secrets). */
function failureDetails(e: Error): Record<string, unknown> {
  const d = (e as { details?: { migration?: string; sqlstate?: string; file?: string } }).details;
  return { errorName: e.name, migration: d?.migration, sqlstate: d?.sqlstate, file: d?.file };
}

/** One line per tenant that changed, for the "seed changes per tenant" Logs Insights query. */
function logSeedChangesPerTenant(logger: ReturnType<typeof runLogger>, summary: SeedSummary | undefined) {
  if (!summary) return;
  const perTenant = new Map<string, number>();
  for (const c of summary.changes) {
    const tenant = c.table === 'tenants' ? c.key : c.key.includes('/') ? c.key.split('/')[0]! : '';
    if (tenant && summary.tenants.includes(tenant)) perTenant.set(tenant, (perTenant.get(tenant) ?? 0) + 1);
  }
  for (const [tenant, rowsChanged] of perTenant) logger.info('seed changes', { tenant, rowsChanged });
  if (summary.changesOmitted > 0) logger.info('seed changes not itemised', { changesOmitted: summary.changesOmitted });
}
