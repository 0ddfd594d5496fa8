/**
 * On-demand operations (`migrator invoke`, or `aws lambda invoke` with the same JSON): status, plan, migrate,
 * seed, reseed, runs. A protected stage refuses destructive actions (reseed, reset, down) whoever calls: the
 * check does not trust the caller, it reads the function's own configuration.
 */
import type { Context } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type * as z from 'zod';
import { runJob } from '../core/job.ts';
import { plan, status } from '../core/migrate/engine.ts';
import { seed } from '../core/seed/seed.ts';
import { loadSeeds, type SeedSet } from '../core/seed/load.ts';
import type { SeedSummary } from '../core/seed/report.ts';
import { publishRunMetrics, runLogger } from '../core/aws/observability.ts';
import { createAwsClients } from '../core/seed/aws.ts';
import { protectedByName } from '../core/protected-stage.ts';
import { listRuns } from '../core/run-history.ts';
import { computeDeadlines } from './deadlines.ts';
import { reasonError, redact, truncateBytes } from './reason.ts';
import { assetLayout, closeLostRun, configuredTimeouts, connectFromSecret, readEnv } from './runtime.ts';
import { startWatchdog } from './watchdog.ts';
import { describePayloadIssues, OPERATION_ACTIONS, OperationPayload, type OperationResult } from './operations-payload.ts';

export { OPERATION_ACTIONS, OperationPayload, type OperationResult };

/** Actions (or options) that destroy or re-write data: refused on a protected stage. */
function destructive(p: z.output<typeof OperationPayload>): string | undefined {
  if (p.reset) return 'reset';
  if (p.action === 'reseed') return 'reseed';
  return undefined;
}

export async function operations(event: unknown, context: Context): Promise<OperationResult> {
  try {
    return await handle(event, context);
  } catch (e) {
    if ((e as Error).name === 'MigrationFailed') throw e;
    throw invokeError(e as Error, context);
  }
}

/** The error the caller of an invoke sees: name and masked message, and where the logs are. */
function invokeError(err: Error, context: Context): Error {
  return reasonError(truncateBytes(redact(`${err.name}: ${err.message}`), 4_000) + ` [logs: ${context.logGroupName} ${context.logStreamName}]`);
}

async function handle(event: unknown, context: Context): Promise<OperationResult> {
  const env = readEnv();
  const protectedStage = env.PROTECTED_STAGE || protectedByName(env.STAGE);
  const raw = typeof event === 'string' ? safeJson(event) : event;
  const destructiveName = (raw as { action?: unknown } | null)?.action === 'down' ? 'down' : undefined;
  if (destructiveName && protectedStage) {
    throw reasonError(`Stage "${env.STAGE}" is protected: down is refused, whoever asks.`);
  }
  const parsed = OperationPayload.safeParse(raw);
  if (!parsed.success) {
    throw reasonError(`Invalid operations payload: ${describePayloadIssues(parsed.error)}. Expected {"action": ${OPERATION_ACTIONS.map((a) => `"${a}"`).join('|')}, "tenant"?, "reset"?, "limit"?, "plan"?, "actor"?}`);
  }
  const p = parsed.data;
  const tenants = p.tenant === undefined ? undefined : Array.isArray(p.tenant) ? p.tenant : [p.tenant];
  const runId = randomUUID();
  const actor = `invoke:${p.actor ?? 'unknown'}`;
  const logger = runLogger({ stage: env.STAGE, trigger: 'invoke', runId, action: p.action }, context);

  const refused = destructive(p);
  if (refused && protectedStage) {
    logger.warn('refused destructive action on a protected stage', { refused, actor });
    throw reasonError(`Stage "${env.STAGE}" is protected: ${refused} is refused, whoever asks. Protected stages only move forward (migrate, seed).`);
  }
  if (p.action === 'reseed' && !tenants) throw reasonError('reseed needs "tenant": the slug(s) to re-apply.');
  if (p.reset && p.action !== 'reseed') throw reasonError('"reset" is only valid with action "reseed".');

  const asset = assetLayout(env);
  let seedSet: SeedSet | undefined;
  const deadlines = computeDeadlines(context.getRemainingTimeInMillis(), configuredTimeouts(env));
  const started = Date.now();
  // One budget for the whole invocation: the secret read, connecting, statements and the seeds' AWS calls.
  const watchdog = startWatchdog(deadlines.hardStopAt, (what) => logger.error(what, { runId }));
  const safety = {
    lockWaitTimeoutMs: deadlines.lockWaitTimeoutMs,
    lockTimeoutMs: deadlines.lockTimeoutMs,
    statementTimeoutMs: deadlines.statementTimeoutMs,
    log: (line: string) => logger.info(line),
  };
  const seedAws = p.action === 'seed' || p.action === 'reseed' ? createAwsClients({ budget: { ...deadlines.aws, signal: watchdog.signal } }) : undefined;
  const seedOptions = (c: pg.ClientBase, id: string, extra: Parameters<typeof seed>[1] extends infer O ? Partial<O> : never) =>
    seed(c, { stage: env.STAGE, seedSet, kmsKeyId: env.KMS_KEY_ARN, secretNamespace: env.TENANT_SECRET_NAMESPACE, actor, runId: id, aws: seedAws, ...safety, ...extra });
  let client: pg.Client | undefined;
  let clientConfig: pg.ClientConfig | undefined;

  // Only the actions that run a job write a run row (status, plan and runs read).
  const writes = p.action === 'migrate' || ((p.action === 'seed' || p.action === 'reseed') && !p.plan);
  let failed = false;
  let applied = 0;
  let rowsChanged = 0;
  try {
    // Seed files are validated before connecting: invalid seeds migrate nothing and write nothing.
    if (p.action === 'seed' || p.action === 'reseed') seedSet = loadSeeds({ dir: asset.seedsDir, stage: env.STAGE, tenants });
    // Inside the try: a connect failure (or a secret that cannot be read) is a failed run like any other.
    const connection = await connectFromSecret(env, deadlines, logger, { runId, signal: watchdog.signal });
    client = connection.client;
    clientConfig = connection.config;
    watchdog.attach(client, connection.config);
    const target = { client, dir: asset.migrationsDir, migrationsTable: env.MIGRATIONS_TABLE, runsTable: env.RUNS_TABLE };
    let result: unknown;
    let reportedRunId: string | undefined;
    switch (p.action) {
      case 'status':
        result = await status(target);
        break;
      case 'plan':
        result = await plan(target);
        break;
      case 'runs':
        result = await listRuns(client, { runsTable: env.RUNS_TABLE, limit: p.limit ?? 20 });
        break;
      case 'migrate': {
        const job = await runJob({ target, trigger: 'invoke', stage: env.STAGE, actor, command: 'invoke:migrate', runId, ...safety });
        applied = job.applied.length;
        reportedRunId = job.runId;
        result = { applied: job.applied, lastMigration: job.lastMigration, durationMs: job.durationMs };
        break;
      }
      case 'seed':
      case 'reseed': {
        if (p.plan) {
          result = await seedOptions(client, runId, { plan: true, action: p.action as 'seed' | 'reseed' });
          break;
        }
        // Through the job so the run is in migration_runs; pending migrations go first (seeds need the schema).
        const job = await runJob({
          target,
          trigger: 'invoke',
          stage: env.STAGE,
          actor,
          command: `invoke:${p.action}${p.reset ? ' --reset' : ''}${tenants ? ` --tenant ${tenants.join(',')}` : ''}`,
          runId,
          ...safety,
          seed: (c, id) =>
            seedOptions(c, id, { action: p.action as 'seed' | 'reseed', reset: p.reset ? tenants : undefined }) as unknown as Promise<Record<string, unknown>>,
        });
        applied = job.applied.length;
        rowsChanged = (job.seed as SeedSummary | undefined)?.rowsWritten ?? 0;
        reportedRunId = job.runId;
        result = { applied: job.applied, seed: job.seed };
        break;
      }
    }
    logger.info('operation succeeded', { outcome: 'succeeded', appliedCount: applied, rowsChanged, durationMs: Date.now() - started });
    return { ok: true, action: p.action, stage: env.STAGE, runId: reportedRunId, result };
  } catch (e) {
    failed = true;
    const err = e as Error;
    if (watchdog.fired) err.message = `Stopped at the invocation deadline (${Math.round((Date.now() - started) / 1000)} s): ${err.message}`;
    logger.error('operation failed', { outcome: 'failed', errorName: err.name, error: redact(err.message) });
    if (clientConfig && writes && (await closeLostRun(clientConfig, { runId, trigger: 'invoke', stage: env.STAGE, actor, command: `invoke:${p.action}`, message: err.message }, env.RUNS_TABLE))) logger.warn('run row closed as failed on a fresh connection (the session was lost)');
    throw invokeError(err, context);
  } finally {
    watchdog.stop();
    await client?.end().catch(() => {});
    seedAws?.kms.destroy();
    seedAws?.secrets.destroy();
    if (p.action === 'migrate' || p.action === 'seed' || p.action === 'reseed') {
      publishRunMetrics(env.STAGE, { failed, migrationsApplied: applied, seedRowsChanged: rowsChanged, durationMs: Date.now() - started });
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
