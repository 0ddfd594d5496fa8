/**
 * The run history: one writer and one reader for every entry point (CLI commands, the custom resource,
 * the operations function). A state-changing command opens a run (`running`, with the backend pid and
 * start time of its session), and finishes it as `succeeded` or `failed` with the error. A run whose
 * session is gone while its row still says `running` (killed process, lost connection) is closed as
 * `abandoned` by the next run that opens.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { redact } from './redact.ts';
import { creationDeferred, ensureRunsTable, runsTableExists, runsTableOf, type RunsTable } from './runs-table.ts';
import type { MigrationFile } from './migrate/files.ts';
import type { MigrationTarget } from './migrate/types.ts';

export type Trigger = 'deploy' | 'invoke' | 'local';
export type Outcome = 'running' | 'succeeded' | 'failed' | 'abandoned';

/** What identifies a deploy run for the rollback check. */
export interface DeployFingerprint {
  contentHash: string;
  /** Per-synth nonce (runOn every-deploy); '' without one. */
  nonce: string;
}

export interface RunStart {
  trigger: Trigger;
  stage: string;
  actor?: string;
  /** What ran, as a user would type it (`up --to 0003_x`, `seed --stage local`, `deploy:Update ...`). */
  command: string;
  /** Default a new UUID. */
  runId?: string;
  fingerprint?: DeployFingerprint;
}

/** Columns a run may set while it runs and when it ends. */
export interface RunFields {
  migrationsApplied?: string[];
  lastMigration?: string | null;
  seedSummary?: unknown;
  details?: unknown;
  error?: string | null;
  durationMs?: number;
}

/** One row of the run history, as `migrator runs --json` and `invoke runs` print it. */
export interface RunRow {
  id: string;
  trigger: string;
  stage: string;
  actor: string | null;
  command: string;
  migrationsApplied: string[];
  lastMigration: string | null;
  seedSummary: unknown;
  details: unknown;
  outcome: Outcome;
  error: string | null;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  contentHash: string | null;
  deployNonce: string | null;
}

/**
 * One run's row. Each write is its own statement (autocommit), so the row survives whatever the run's
 * own transactions do.
 */
export class RunRecord {
  private inserted = false;
  /** Whether the run is recorded at all: false until start() (a run refused before that leaves no row). */
  started = false;
  private readonly startedAt = Date.now();
  readonly id: string;

  private constructor(
    private readonly client: pg.ClientBase,
    private readonly table: RunsTable,
    private readonly info: RunStart,
    private readonly target?: Pick<MigrationTarget, 'dir' | 'migrationsTable' | 'migrationsSchema'>,
  ) {
    this.id = info.runId ?? randomUUID();
  }

  /** A run not written yet: call start() once its input was checked (the engine's onValidated). */
  static create(client: pg.ClientBase, table: RunsTable, start: RunStart, target?: RunRecord['target']): RunRecord {
    return new RunRecord(client, table, start, target);
  }

  /** create() + start(). */
  static async open(client: pg.ClientBase, table: RunsTable, start: RunStart, target?: RunRecord['target']): Promise<RunRecord> {
    const record = RunRecord.create(client, table, start, target);
    await record.start();
    return record;
  }

  /**
   * Record the run from now on: create or adopt the table, close abandoned runs, insert this one as
   * `running`. With a `target` whose folder still has to create the table (the legacy sample migration),
   * the row is written once the migrations ran (`afterMigrations`). Idempotent. `files`: the folder's
   * migrations as the engine listed and checked them (its onValidated), so the folder is not read again.
   */
  async start(files?: MigrationFile[]): Promise<void> {
    this.started = true;
    await this.insert(files);
  }

  /** After the run's migrations: write the row now if the table had to wait for them, then `fields`. */
  async afterMigrations(fields: RunFields): Promise<void> {
    await this.start();
    await this.update(fields);
  }

  async update(fields: RunFields & { outcome?: Outcome; finished?: boolean }): Promise<void> {
    if (!this.inserted) return;
    const sets: string[] = [];
    const values: unknown[] = [this.id];
    const set = (column: string, value: unknown) => {
      values.push(value);
      sets.push(`${column} = $${values.length}`);
    };
    if (fields.migrationsApplied !== undefined) set('migrations_applied', fields.migrationsApplied);
    if (fields.lastMigration !== undefined) set('last_migration', fields.lastMigration);
    if (fields.seedSummary !== undefined) set('seed_summary', json(fields.seedSummary));
    if (fields.details !== undefined) set('details', json(fields.details));
    if (fields.error !== undefined) set('error', fields.error);
    if (fields.durationMs !== undefined) set('duration_ms', fields.durationMs);
    if (fields.outcome !== undefined) set('outcome', fields.outcome);
    if (fields.finished) sets.push('finished_at = now()');
    if (sets.length === 0) return;
    await this.client.query(`UPDATE ${this.table.sql} SET ${sets.join(', ')} WHERE id = $1`, values);
  }

  /**
   * End the run. A failure's message is masked (redact) before it is stored. A run never started (refused
   * before it changed anything) writes nothing.
   */
  async finish(outcome: 'succeeded' | 'failed', fields: RunFields = {}): Promise<void> {
    if (!this.started) return;
    await this.insert(); // started, but the table had to wait for the migrations: written now, when it can
    const error = fields.error ? redact(fields.error) : fields.error;
    await this.update({ durationMs: Date.now() - this.startedAt, ...fields, error, outcome, finished: true });
  }

  private async insert(files?: MigrationFile[]): Promise<void> {
    if (this.inserted) return;
    if (this.target && (await creationDeferred(this.client, this.table, this.target, files))) return;
    await ensureRunsTable(this.client, this.table);
    await closeAbandoned(this.client, this.table, this.id);
    const s = this.info;
    await this.client.query(
      `INSERT INTO ${this.table.sql}
         (id, trigger, stage, actor, command, outcome, content_hash, deploy_nonce, backend_pid, backend_start, started_at)
       SELECT $1, $2, $3, $4, $5, 'running', $6, $7, pg_backend_pid(),
              (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()),
              now() - make_interval(secs => $8::float8 / 1000)
       ON CONFLICT (id) DO NOTHING`,
      [this.id, s.trigger, s.stage, s.actor ?? null, s.command, s.fingerprint?.contentHash ?? null, s.fingerprint?.nonce ?? null, Date.now() - this.startedAt],
    );
    this.inserted = true;
  }
}

/**
 * Run `fn` as one recorded run, finished after with `fn`'s fields (or its error). The row is written
 * before `fn` runs, or with `startWhen: 'validated'` when `fn` calls `record.start()` (the engine's
 * onValidated), so a command refused before it changed anything leaves no row. The error reaches the
 * caller even when recording it fails too.
 */
export async function recordRun<T>(
  client: pg.ClientBase,
  options: RunStart & { runsTable?: string; target?: RunRecord['target']; startWhen?: 'now' | 'validated' },
  fn: (runId: string, record: RunRecord) => Promise<{ result: T; fields?: RunFields }>,
): Promise<{ runId: string; result: T }> {
  const record = RunRecord.create(client, runsTableOf(options.runsTable), options, options.target);
  if (options.startWhen !== 'validated') await record.start();
  let out: { result: T; fields?: RunFields };
  try {
    out = await fn(record.id, record);
  } catch (error) {
    await record.finish('failed', { error: (error as Error).message }).catch(() => {});
    throw error;
  }
  await record.finish('succeeded', out.fields);
  return { runId: record.id, result: out.result };
}

/**
 * Write a run as `failed` from a fresh session, after its own session was cut (the watchdog destroyed
 * the socket, the server went away) so it could not close its row, or on a first deploy insert it.
 * A row that is already closed is kept. Returns whether a row was written.
 */
export async function closeRunAsFailed(
  client: pg.ClientBase,
  run: RunStart & { runId: string; message: string; runsTable?: string },
): Promise<boolean> {
  const t = runsTableOf(run.runsTable);
  if (!(await runsTableExists(client, t))) return false;
  await ensureRunsTable(client, t); // a 0.1.0 table gets the fingerprint columns first
  const { rowCount } = await client.query(
    `INSERT INTO ${t.sql} (id, trigger, stage, actor, command, outcome, error, finished_at, content_hash, deploy_nonce)
     VALUES ($1, $2, $3, $4, $5, 'failed', $6, now(), $7, $8)
     ON CONFLICT (id) DO UPDATE SET outcome = 'failed', error = EXCLUDED.error, finished_at = now()
     WHERE ${t.sql}.outcome = 'running'`,
    [run.runId, run.trigger, run.stage, run.actor ?? null, run.command, redact(run.message), run.fingerprint?.contentHash ?? null, run.fingerprint?.nonce ?? null],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * Close runs still `running` whose session has ended (its pid is gone, or now belongs to a newer session).
 * A session that is alive but hidden from this role (pg_stat_activity shows its pid without start time)
 * counts as alive. Returns the ids closed.
 */
export async function closeAbandoned(client: pg.ClientBase, table: RunsTable, byRun: string): Promise<string[]> {
  const { rows } = await client.query<{ id: string }>(
    `UPDATE ${table.sql} r
        SET outcome = 'abandoned', finished_at = now(),
            error = concat_ws(' / ', r.error, format('abandoned: its session (backend pid %s, started %s) ended while the run was running; closed by run %s',
                                                      r.backend_pid, r.backend_start, $1::text))
      WHERE r.outcome = 'running' AND r.backend_pid IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                         WHERE a.pid = r.backend_pid AND (a.backend_start = r.backend_start OR a.backend_start IS NULL))
      RETURNING r.id`,
    [byRun],
  );
  return rows.map((r) => r.id);
}

export interface ListOptions {
  runsTable?: string;
  limit?: number;
  /** Only this run (a run id from `history`, a deploy's RunId). */
  id?: string;
  /** Only deploy runs of this actor (the rollback check). */
  deployActor?: string;
}

/** The newest runs first. A database without the table has no runs (reading creates nothing). */
export async function listRuns(client: pg.ClientBase, options: ListOptions = {}): Promise<RunRow[]> {
  const t = runsTableOf(options.runsTable);
  if (!(await runsTableExists(client, t))) return [];
  const where: string[] = [];
  const values: unknown[] = [options.limit ?? 20];
  if (options.id !== undefined) {
    values.push(options.id);
    where.push(`id::text = $${values.length}`);
  }
  if (options.deployActor !== undefined) {
    values.push(options.deployActor);
    where.push(`trigger = 'deploy' AND actor = $${values.length}`);
  }
  // A table adopted from 0.1.0 gets the newer columns at its next recorded run; until then they read as NULL.
  const { rows: present } = await client.query<{ attname: string }>(
    'SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped',
    [t.sql],
  );
  const has = new Set(present.map((r) => r.attname));
  const col = (name: string) => (has.has(name) ? name : `NULL AS ${name}`);
  const { rows } = await client.query(
    `SELECT id, trigger, stage, actor, command, migrations_applied, last_migration, seed_summary, ${col('details')}, outcome, error,
            started_at, finished_at, duration_ms, ${col('content_hash')}, ${col('deploy_nonce')}
       FROM ${t.sql} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY started_at DESC, finished_at DESC NULLS LAST, id LIMIT $1`,
    values,
  );
  return rows.map((r) => ({
    id: r.id,
    trigger: r.trigger,
    stage: r.stage,
    actor: r.actor,
    command: r.command,
    migrationsApplied: r.migrations_applied,
    lastMigration: r.last_migration,
    seedSummary: r.seed_summary,
    details: r.details,
    outcome: r.outcome,
    error: r.error,
    startedAt: new Date(r.started_at).toISOString(),
    finishedAt: r.finished_at ? new Date(r.finished_at).toISOString() : null,
    durationMs: r.duration_ms,
    contentHash: r.content_hash,
    deployNonce: r.deploy_nonce,
  }));
}

function json(value: unknown): string | null {
  return value === null ? null : JSON.stringify(value);
}
