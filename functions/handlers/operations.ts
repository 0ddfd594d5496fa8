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
import { loadSeeds } from '../core/seed/load.ts';
import type { SeedSummary } from '../core/seed/report.ts';
import { createLogger, publishRunMetrics } from '../core/aws/observability.ts';
import { protectedByName } from '../core/protected-stage.ts';
import { runsTableExists } from '../core/runs-table.ts';
import { computeDeadlines } from './deadlines.ts';
import { reasonError, redact, truncateBytes } from './reason.ts';
import { assetLayout, configuredTimeouts, connectFromSecret, readEnv } from './runtime.ts';
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
  const logger = createLogger({ stage: env.STAGE, trigger: 'invoke', runId, action: p.action });
  logger.addContext(context);

  const refused = destructive(p);
  if (refused && protectedStage) {
    logger.warn('refused destructive action on a protected stage', { refused, actor });
    throw reasonError(`Stage "${env.STAGE}" is protected: ${refused} is refused, whoever asks. Protected stages only move forward (migrate, seed).`);
  }
  if (p.action === 'reseed' && !tenants) throw reasonError('reseed needs "tenant": the slug(s) to re-apply.');
  if (p.reset && p.action !== 'reseed') throw reasonError('"reset" is only valid with action "reseed".');

  const asset = assetLayout(env);
  // Seed files are validated before connecting: invalid seeds migrate nothing and write nothing.
  const seedSet = p.action === 'seed' || p.action === 'reseed' ? loadSeeds({ dir: asset.seedsDir, stage: env.STAGE, tenants }) : undefined;
  const deadlines = computeDeadlines(context.getRemainingTimeInMillis(), configuredTimeouts(env));
  const started = Date.now();
  const { client, config } = await connectFromSecret(env, deadlines, logger);
  const watchdog = startWatchdog(client, config, deadlines.hardStopAt, (what) => logger.error(what));
  const target = { client, dir: asset.migrationsDir, migrationsTable: env.MIGRATIONS_TABLE };
  const safety = {
    lockWaitTimeoutMs: deadlines.lockWaitTimeoutMs,
    lockTimeoutMs: deadlines.lockTimeoutMs,
    statementTimeoutMs: deadlines.statementTimeoutMs,
    log: (line: string) => logger.info(line),
  };
  const seedOptions = (c: pg.ClientBase, id: string, extra: Parameters<typeof seed>[1] extends infer O ? Partial<O> : never) =>
    seed(c, { stage: env.STAGE, seedSet, kmsKeyId: env.KMS_KEY_ARN, actor, runId: id, ...safety, ...extra });

  let failed = false;
  let applied = 0;
  let rowsChanged = 0;
  try {
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
        result = await recentRuns(client, p.limit ?? 20);
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
    logger.error('operation failed', { outcome: 'failed', errorName: err.name, error: redact(err.message) });
    throw invokeError(err, context);
  } finally {
    watchdog.stop();
    await client.end().catch(() => {});
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

/** The audit trail, newest first (the same rows `migrator runs` prints). */
async function recentRuns(client: pg.ClientBase, limit: number) {
  if (!(await runsTableExists(client))) return [];
  const { rows } = await client.query(
    `SELECT id AS "runId", trigger, stage, actor, command, migrations_applied AS "migrationsApplied",
            seed_summary->'rowsWritten' AS "seedRowsWritten", outcome, error, started_at AS "startedAt", finished_at AS "finishedAt"
       FROM public.migration_runs ORDER BY started_at DESC LIMIT $1`,
    [limit],
  );
  return rows;
}
