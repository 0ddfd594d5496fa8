/**
 * One migrate(+seed) run, the same for `cdk deploy` (custom resource), on-demand invokes and `migrator dev`:
 * connect (with retries), validate and apply pending migrations, run the optional seed step, and record the
 * run as one row of `migration_runs` (outcome running -> succeeded | failed, with the error message).
 *
 * The `migration_runs` table is created by the project's own migrations. When the target has none (a
 * foreign migrations folder, test fixtures) the run is simply not recorded. When this very run creates it,
 * the row is inserted right after migrating, so the first deploy is recorded too.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { connect, type ConnectOptions } from './db.ts';
import { up } from './migrate/engine.ts';
import { redact } from './redact.ts';
import { RUNS_TABLE, runsTableExists } from './runs-table.ts';
import type { MigrationTarget, SafetyOptions } from './migrate/types.ts';

/** What a seed step reports; stored as JSON in `migration_runs.seed_summary`. */
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
}

export interface JobResult {
  runId: string;
  /** Migrations applied by this run, in order. */
  applied: string[];
  /** Last applied migration after the run (null: none). */
  lastMigration: string | null;
  seed?: SeedSummary;
  durationMs: number;
}

/**
 * Run the job. Throws what failed (ValidationError, MigrationError, LockWaitTimeoutError, the seed's error)
 * after recording the failure in `migration_runs` when that table exists.
 */
export async function runJob(options: RunJobOptions): Promise<JobResult> {
  const started = Date.now();
  const runId = options.runId ?? randomUUID();
  const client = options.target.client ?? (await connect(requireUrl(options.target), options.connect ?? options.target.connect));
  const audit = new RunRecorder(client, RUNS_TABLE, runId, options);
  let applied: string[] = [];
  try {
    await audit.start();
    const result = await up({ ...options.target, client }, { ...options, runId });
    applied = result.applied;
    await audit.start(); // the migrations may just have created the runs table
    await audit.update({ migrations_applied: applied, last_migration: result.lastMigration });
    const seed = options.seed ? await options.seed(client, runId) : undefined;
    const durationMs = Date.now() - started;
    await audit.finish('succeeded', { migrations_applied: applied, seed_summary: seed ?? null, duration_ms: durationMs });
    return { runId, applied, lastMigration: result.lastMigration, seed, durationMs };
  } catch (error) {
    // The failure must reach the caller even if recording it fails too.
    await audit.start().catch(() => {});
    await audit.finish('failed', { error: redact((error as Error).message), duration_ms: Date.now() - started }).catch(() => {});
    throw error;
  } finally {
    if (!options.target.client) await client.end().catch(() => {});
  }
}

function requireUrl(target: MigrationTarget): string {
  if (!target.databaseUrl) throw new Error('runJob needs target.databaseUrl or target.client.');
  return target.databaseUrl;
}

/** Writes the run's row, if the runs table exists. Each write is its own statement (autocommit). */
class RunRecorder {
  private inserted = false;
  constructor(
    private readonly client: pg.Client,
    private readonly table: string,
    private readonly runId: string,
    private readonly options: RunJobOptions,
  ) {}

  /** Insert the 'running' row once the table exists (no-op before, and after the first insert). */
  async start(): Promise<void> {
    if (this.inserted) return;
    if (!(await runsTableExists(this.client, this.table))) return;
    const o = this.options;
    await this.client.query(
      `INSERT INTO ${this.table} (id, trigger, stage, actor, command, outcome) VALUES ($1, $2, $3, $4, $5, 'running')
       ON CONFLICT (id) DO NOTHING`,
      [this.runId, o.trigger, o.stage, o.actor ?? null, o.command],
    );
    this.inserted = true;
  }

  async update(fields: Record<string, unknown>): Promise<void> {
    if (!this.inserted) return;
    const names = Object.keys(fields);
    await this.client.query(
      `UPDATE ${this.table} SET ${names.map((n, i) => `${pg.escapeIdentifier(n)} = $${i + 2}`).join(', ')} WHERE id = $1`,
      [this.runId, ...names.map((n) => fields[n])],
    );
  }

  async finish(outcome: 'succeeded' | 'failed', fields: Record<string, unknown>): Promise<void> {
    await this.update({ ...fields, outcome, finished_at: new Date() });
  }
}
