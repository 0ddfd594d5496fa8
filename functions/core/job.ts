/**
 * One migrate(+seed) run, the same for `cdk deploy` (custom resource), on-demand invokes, `migrator up`,
 * `migrator seed` and `migrator dev`: connect (with retries), validate and apply pending migrations, run the
 * optional seed step, and record the run as one row of the run history (see run-history.ts): outcome
 * running -> succeeded | failed, with the error message.
 *
 * The engine creates the run-history table itself, so any migrations folder gets run rows. Only when the
 * folder still has to apply the sample schema's legacy migration that creates the table is the row
 * written right after the migrations (the first deploy is recorded too).
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { isConnectionLoss } from './connection-loss.ts';
import { closeClient, connect, QueryTimeoutError, whereOf, type ConnectOptions } from './db.ts';
import { ConnectionLostError, MigratorError, SEED_LOST, type Problem } from './errors.ts';
import { up } from './migrate/engine.ts';
import { closeRunAsFailed, RunRecord, type DeployFingerprint } from './run-history.ts';
import { runsTableOf } from './runs-table.ts';
import type { MigrationTarget, SafetyOptions } from './migrate/types.ts';

/** What a seed step reports; stored as JSON in the run's `seed_summary`. */
export type SeedSummary = Record<string, unknown>;

/** The seed step: gets the job's connection (no transaction open, no migration lock held) and the run id. */
export type SeedStep = (client: pg.Client, runId: string) => Promise<SeedSummary>;

export interface RunJobOptions extends SafetyOptions {
  /** Database, migrations folder and migrations table. */
  target: MigrationTarget;
  /** Who started the run: a deploy (custom resource), an on-demand invoke, or a developer's machine. */
  trigger: 'deploy' | 'invoke' | 'local';
  /** Stage name (staging, prod, local). */
  stage: string;
  /** Person or principal, for the audit row. */
  actor?: string;
  /** What ran, for the audit row (e.g. 'deploy:Create', 'migrate', 'dev'). */
  command: string;
  /** Optional seed step run after the migrations. */
  seed?: SeedStep;
  /** Run id; default a new UUID. Also recorded with each applied migration. */
  runId?: string;
  /** Connect timeout/retries when `target.databaseUrl` is used. */
  connect?: ConnectOptions;
  /** Deploy runs: what the rollback check compares (stored in their own columns). */
  fingerprint?: DeployFingerprint;
  /** Apply pending migrations up to and including this one (`migrator up --to`). */
  to?: string;
}

export interface JobResult {
  runId: string;
  /** Migrations applied by this run, in order. */
  applied: string[];
  /** Last applied migration after the run (null: none). */
  lastMigration: string | null;
  seed?: SeedSummary;
  durationMs: number;
  /** Folder warnings (problems of already applied migrations that do not block). */
  warnings?: Problem[];
}

/**
 * Run the job. Throws what failed (ValidationError, MigrationError, LockWaitTimeoutError, the seed's error)
 * after recording the failure in the run history.
 */
export async function runJob(options: RunJobOptions): Promise<JobResult> {
  const started = Date.now();
  const runId = options.runId ?? randomUUID();
  // application_name says which run a session is (pg_stat_activity, lock-holder messages, `migrator unlock`).
  const client = options.target.client ?? (await connect(requireUrl(options.target), { applicationName: `migrator:${runId}`, ...(options.connect ?? options.target.connect) }));
  let record: RunRecord | undefined;
  let step: 'migrations' | 'seed' = 'migrations';
  try {
    const o = options;
    // Written once the migrations folder and the database were checked: a refused run leaves no row.
    const rec = (record = RunRecord.create(
      client,
      runsTableOf(o.target.runsTable),
      { trigger: o.trigger, stage: o.stage, actor: o.actor, command: o.command, runId, fingerprint: o.fingerprint },
      o.target,
    ));
    const result = await up({ ...o.target, client }, { ...o, runId, to: o.to, onValidated: () => rec.start() });
    const applied = result.applied;
    // Written now if the migrations just created the table (the legacy sample migration).
    await record.afterMigrations({ migrationsApplied: applied, lastMigration: result.lastMigration });
    step = 'seed';
    const seed = o.seed ? await o.seed(client, runId) : undefined;
    const durationMs = Date.now() - started;
    await record.finish('succeeded', { migrationsApplied: applied, seedSummary: seed ?? null, durationMs });
    return { runId, applied, lastMigration: result.lastMigration, seed, durationMs, warnings: result.warnings };
  } catch (error) {
    const failure = explained(error, step, whereOf(client));
    // The failure must reach the caller even if recording it fails too.
    const fields = { error: failure.message, durationMs: Date.now() - started };
    const closed = await record?.finish('failed', fields).then(() => true, () => false);
    // The session is gone (lost, or dropped at the client-side bound): close the row on a fresh connection.
    if (closed === false && record?.started) await closeOnFreshConnection(options, runId, failure.message);
    throw failure;
  } finally {
    if (!options.target.client) await closeClient(client);
  }
}

/**
 * A lost session or an unanswered query, said in words that name the step and what was written. Other
 * errors (MigrationError names its migration itself) pass unchanged.
 */
function explained(error: unknown, step: 'migrations' | 'seed', where: string): Error {
  if (step === 'seed' && error instanceof QueryTimeoutError) {
    return new MigratorError(`${error.message} This happened during the seed step. ${SEED_LOST}`, { cause: error });
  }
  if (error instanceof MigratorError || !isConnectionLoss(error)) return error as Error;
  return step === 'seed'
    ? new ConnectionLostError({ where, step: 'the seed step', consequence: SEED_LOST }, { cause: error })
    : new ConnectionLostError(
        {
          where,
          step: 'the migrations (checking, locking or applying them)',
          consequence: 'A migration in progress, if any, was rolled back with its session; migrations committed before stay (`migrator status` lists them).',
        },
        { cause: error },
      );
}

/**
 * Best effort, bounded: one attempt of at most 5 s, a 5 s statement bound. Only with a database URL (the
 * CLI); the Lambda handlers do the same with the secret's config (closeLostRun).
 */
async function closeOnFreshConnection(options: RunJobOptions, runId: string, message: string): Promise<void> {
  const url = options.target.databaseUrl;
  if (!url) return;
  const base = options.connect ?? options.target.connect ?? {};
  try {
    const fresh = await connect(url, {
      connectTimeoutMs: Math.min(base.connectTimeoutMs ?? 5_000, 5_000),
      retries: 0,
      applicationName: `migrator:${runId}:close`,
      sessionSettings: { statement_timeout: 5_000, lock_timeout: 2_000 },
      queryTimeoutMs: 7_000,
    });
    try {
      const o = options;
      await closeRunAsFailed(fresh, { runId, trigger: o.trigger, stage: o.stage, actor: o.actor, command: o.command, fingerprint: o.fingerprint, message, runsTable: o.target.runsTable });
    } finally {
      await closeClient(fresh);
    }
  } catch {
    // The next run closes it as abandoned once the old session is gone.
  }
}

function requireUrl(target: MigrationTarget): string {
  if (!target.databaseUrl) throw new MigratorError('No database given: pass --database-url or set DATABASE_URL.');
  return target.databaseUrl;
}
