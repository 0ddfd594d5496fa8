/**
 * The run-history table. The engine owns it, as it owns `<migrations table>_checksums`: the first run that
 * records creates it, and a table created earlier (the sample schema's `0002_migration_runs.sql`, deployed
 * before the engine owned it) is adopted: missing columns are added and the outcome check learns
 * `abandoned`. Every statement here is idempotent and compatible with that migration's DDL, which stays
 * unchanged (its checksum is recorded in deployed databases).
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { MigratorError } from './errors.ts';
import { listMigrations, type MigrationFile } from './migrate/files.ts';
import { tablesOf } from './migrate/state.ts';
import type { MigrationTarget } from './migrate/types.ts';

/** The default run-history table (`runsTable` of a target, `--runs-table`, the construct's `runsTable`). */
export const DEFAULT_RUNS_TABLE = 'public.migration_runs';
/** @deprecated the default name; pass the target's table (runsTableOf) instead. */
export const RUNS_TABLE = DEFAULT_RUNS_TABLE;

/**
 * SHA-256 of the sample schema's `0002_migration_runs.sql` (pg-tenant-migrator 0.1.0), the migration that
 * created the table before the engine did. While it is pending, the engine leaves the creation to it (it
 * has no IF NOT EXISTS and would fail on a table the engine made first) and adopts the table right after.
 */
export const LEGACY_RUNS_MIGRATIONS = new Set(['8bc4c6b76e765bbdcf886ca3084e79fb3b95dae26ae5d0d2f6de6de7be24b28e']);

export interface RunsTable {
  schema: string;
  name: string;
  /** `"schema"."name"`, ready for SQL. */
  sql: string;
  /** `schema.name`, for messages. */
  display: string;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

/** Parse `schema.table` or `table` (schema `public`); plain identifiers only, so names never need quoting rules. */
export function runsTableOf(qualified: string = DEFAULT_RUNS_TABLE): RunsTable {
  const parts = qualified.split('.');
  const [schema, name] = parts.length === 1 ? ['public', parts[0]!] : parts;
  if (parts.length > 2 || !schema || !name || !IDENT.test(schema) || !IDENT.test(name)) {
    throw new MigratorError(`Invalid runs table "${qualified}": expected schema.table or table, letters, digits and _ (e.g. ${DEFAULT_RUNS_TABLE}).`);
  }
  return { schema, name, sql: `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(name)}`, display: `${schema}.${name}` };
}

export async function runsTableExists(client: pg.ClientBase, table: RunsTable | string = DEFAULT_RUNS_TABLE): Promise<boolean> {
  const t = typeof table === 'string' ? runsTableOf(table) : table;
  const { rows } = await client.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [t.sql]);
  return rows[0]?.ok === true;
}

/** Columns the engine added after 0.1.0's table: adopting a table adds those it lacks. */
const ADDED_COLUMNS: [string, string][] = [
  // What a command other than migrate/seed did (reverted names, repair changes, a rotated key's prefix).
  ['details', 'jsonb'],
  // The deploy fingerprint the rollback check compares (was text inside `command`).
  ['content_hash', 'text'],
  ['deploy_nonce', 'text'],
  // The session that ran: once it is gone, a row still `running` is closed as `abandoned`.
  ['backend_pid', 'integer'],
  ['backend_start', 'timestamptz'],
];
const OUTCOMES = ['running', 'succeeded', 'failed', 'abandoned'];

/** The outcome check as PostgreSQL prints it back, to know whether it already allows every outcome. */
const outcomeCheck = (t: RunsTable) => `CONSTRAINT ${pg.escapeIdentifier(`${t.name}_outcome_valid`)} CHECK (outcome IN (${OUTCOMES.map((o) => `'${o}'`).join(', ')}))`;

/**
 * Create the table, or bring an existing one up to date. Costs one catalog query when nothing is missing;
 * otherwise the DDL runs in one transaction under an advisory lock of its own, so concurrent first runs
 * do not race on CREATE TABLE IF NOT EXISTS.
 */
export async function ensureRunsTable(client: pg.ClientBase, t: RunsTable): Promise<void> {
  if (await upToDate(client, t)) return;
  await client.query('BEGIN');
  try {
    await client.query("SET LOCAL lock_timeout = '10s'");
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [lockKey(t)]);
    const existed = await runsTableExists(client, t);
    if (t.schema !== 'public') await client.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(t.schema)}`);
    const c = (suffix: string) => pg.escapeIdentifier(`${t.name}_${suffix}`);
    // The shape of 0002_migration_runs.sql (names of constraints included), so both paths end equal.
    await client.query(`CREATE TABLE IF NOT EXISTS ${t.sql} (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      trigger text NOT NULL CONSTRAINT ${c('trigger_valid')} CHECK (trigger IN ('deploy', 'invoke', 'local')),
      stage text NOT NULL CONSTRAINT ${c('stage_not_blank')} CHECK (btrim(stage) <> ''),
      actor text,
      command text NOT NULL,
      migrations_applied text[] NOT NULL DEFAULT '{}',
      last_migration text,
      seed_summary jsonb,
      outcome text NOT NULL DEFAULT 'running',
      error text,
      started_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz,
      duration_ms integer CONSTRAINT ${c('duration_nonnegative')} CHECK (duration_ms >= 0),
      CONSTRAINT ${c('running_not_finished')} CHECK (outcome <> 'running' OR finished_at IS NULL))`);
    const { rows } = await client.query<{ attname: string }>(
      'SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped',
      [t.sql],
    );
    const have = new Set(rows.map((r) => r.attname));
    const missing = ADDED_COLUMNS.filter(([n]) => !have.has(n));
    if (missing.length) {
      await client.query(`ALTER TABLE ${t.sql} ${missing.map(([n, type]) => `ADD COLUMN ${pg.escapeIdentifier(n)} ${type}`).join(', ')}`);
    }
    if (existed && missing.some(([n]) => n === 'content_hash')) {
      // Deploy rows written before the fingerprint had columns carry it in the command text; move it once.
      await client.query(
        `UPDATE ${t.sql} SET content_hash = m[1], deploy_nonce = nullif(m[2], '-')
           FROM (SELECT id AS run, regexp_match(command, '^deploy:\\w+ content=([0-9a-f]+) nonce=(\\S+)$') AS m FROM ${t.sql}) parsed
          WHERE parsed.run = id AND parsed.m IS NOT NULL AND content_hash IS NULL`,
      );
    }
    await client.query(`ALTER TABLE ${t.sql} DROP CONSTRAINT IF EXISTS ${c('outcome_valid')}, ADD ${outcomeCheck(t)}`);
    await client.query(`CREATE INDEX IF NOT EXISTS ${c('started_at_idx')} ON ${t.sql} (started_at DESC)`);
    if (!existed) {
      await client.query(`COMMENT ON TABLE ${t.sql} IS 'Run history of pg-tenant-migrator (one row per state-changing command); created by the engine.'`);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw new MigratorError(`Could not create or update the run-history table ${t.display}: ${(error as Error).message}`, { cause: error });
  }
}

/** True when the table exists with every column and the current outcome check. */
async function upToDate(client: pg.ClientBase, t: RunsTable): Promise<boolean> {
  const { rows: [r] } = await client.query<{ columns: number; outcome: string | null }>(
    `SELECT (SELECT count(*)::int FROM pg_attribute WHERE attrelid = rel AND attname = ANY($2) AND NOT attisdropped) AS columns,
            (SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = rel AND conname = $3) AS outcome
       FROM (SELECT to_regclass($1) AS rel) x WHERE rel IS NOT NULL`,
    [t.sql, ADDED_COLUMNS.map(([n]) => n), `${t.name}_outcome_valid`],
  );
  return Boolean(r && r.columns === ADDED_COLUMNS.length && r.outcome?.includes("'abandoned'"));
}

function lockKey(t: RunsTable): string {
  return createHash('sha256').update(`migrator-runs:${t.display}`).digest().readBigInt64BE(0).toString();
}

/**
 * Whether the run-history table must wait for the target's own migrations: it does not exist yet and the
 * folder holds the legacy migration that creates it, not yet applied. Read-only. `files`: the folder
 * as already listed (else it is listed here).
 */
export async function creationDeferred(
  client: pg.ClientBase,
  t: RunsTable,
  target: Pick<MigrationTarget, 'dir' | 'migrationsTable' | 'migrationsSchema'>,
  files?: MigrationFile[],
): Promise<boolean> {
  if (await runsTableExists(client, t)) return false;
  const legacy = (files ?? (await listMigrations(target.dir).catch(() => []))).filter((f) => LEGACY_RUNS_MIGRATIONS.has(f.checksum));
  if (legacy.length === 0) return false;
  const m = tablesOf(target);
  const { rows: [r] } = await client.query<{ applied: boolean | null }>(
    `SELECT CASE WHEN to_regclass($1) IS NULL THEN false ELSE NULL END AS applied`,
    [m.migrations],
  );
  if (r?.applied === false) return true;
  const { rows } = await client.query(`SELECT 1 FROM ${m.migrations} WHERE name = ANY($1)`, [legacy.map((f) => f.name)]);
  return rows.length === 0;
}
