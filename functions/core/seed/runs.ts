/**
 * `migration_runs` for the seeding commands that run outside runJob (seed, reseed, rotate-key from the
 * CLI) and the `runs` listing. runJob records migrate(+seed) runs itself; this is the same row shape.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { redact } from '../redact.ts';
import { MigratorError } from '../errors.ts';
import { RUNS_TABLE, runsTableExists } from '../runs-table.ts';

export interface RunRow {
  id: string;
  trigger: string;
  stage: string;
  actor: string | null;
  command: string;
  migrationsApplied: string[];
  seedSummary: unknown;
  outcome: string;
  error: string | null;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
}

export interface RecordOptions {
  trigger: 'deploy' | 'invoke' | 'local';
  stage: string;
  actor?: string;
  command: string;
  runId?: string;
}

/** Runs `fn` between a 'running' row and its outcome; the row's seed_summary is what `fn` returns. */
export async function recordRun<T>(client: pg.ClientBase, o: RecordOptions, fn: (runId: string) => Promise<T>): Promise<{ runId: string; result: T }> {
  const runId = o.runId ?? randomUUID();
  const exists = await runsTableExists(client);
  const started = Date.now();
  if (exists) {
    await client.query(`INSERT INTO public.migration_runs (id, trigger, stage, actor, command, outcome) VALUES ($1, $2, $3, $4, $5, 'running')`, [
      runId,
      o.trigger,
      o.stage,
      o.actor ?? null,
      o.command,
    ]);
  }
  const finish = async (outcome: 'succeeded' | 'failed', summary: unknown, error: string | null) => {
    if (!exists) return;
    await client.query(
      `UPDATE public.migration_runs SET outcome = $2, seed_summary = $3, error = $4, finished_at = now(), duration_ms = $5 WHERE id = $1`,
      [runId, outcome, summary === undefined ? null : JSON.stringify(summary), error, Date.now() - started],
    );
  };
  try {
    const result = await fn(runId);
    await finish('succeeded', result, null);
    return { runId, result };
  } catch (e) {
    await finish('failed', null, redact((e as Error).message)).catch(() => {});
    throw e;
  }
}

/** The newest runs first. */
export async function listRuns(client: pg.ClientBase, limit = 20): Promise<RunRow[]> {
  if (!(await runsTableExists(client))) {
    throw new MigratorError(`No run history: ${RUNS_TABLE} does not exist in this database (it is created by the migrations; run \`migrator up\` first).`);
  }
  const { rows } = await client.query(
    `SELECT id, trigger, stage, actor, command, migrations_applied, seed_summary, outcome, error, started_at, finished_at, duration_ms
       FROM ${RUNS_TABLE} ORDER BY started_at DESC, id LIMIT $1`,
    [limit],
  );
  return rows.map((r) => ({
    id: r.id,
    trigger: r.trigger,
    stage: r.stage,
    actor: r.actor,
    command: r.command,
    migrationsApplied: r.migrations_applied,
    seedSummary: r.seed_summary,
    outcome: r.outcome,
    error: r.error,
    startedAt: new Date(r.started_at).toISOString(),
    finishedAt: r.finished_at ? new Date(r.finished_at).toISOString() : null,
    durationMs: r.duration_ms,
  }));
}
