/**
 * What the database says was applied: node-pg-migrate's table (`id, name, run_on`) plus our
 * `<table>_checksums` (name, SHA-256 of the source, run id, how it got there), and the comparison with the folder.
 */
import { createHash } from 'node:crypto';
import { relative } from 'node:path';
import pg from 'pg';
import type { Problem } from '../errors.ts';
import type { MigrationFile } from './files.ts';
import type { MigrationTarget } from './types.ts';

/** Names of a target's tables, quoted and ready for SQL, and its advisory lock key. */
export interface Tables {
  schema: string;
  table: string;
  /** `"schema"."table"` (node-pg-migrate's table). */
  migrations: string;
  /** `"schema"."table_checksums"`. */
  checksums: string;
  /** Advisory lock key (bigint as string) derived from the table, so targets sharing a database don't collide. */
  lockKey: string;
}

export function tablesOf(target: MigrationTarget): Tables {
  const schema = target.migrationsSchema ?? 'public';
  const table = target.migrationsTable ?? 'pgmigrations';
  const digest = createHash('sha256').update(`migrator:${schema}.${table}`).digest();
  return {
    schema,
    table,
    migrations: `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}`,
    checksums: `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(`${table}_checksums`)}`,
    lockKey: digest.readBigInt64BE(0).toString(),
  };
}

export interface AppliedRow {
  /** The migration's name (the file's, see `recordedAs`). */
  name: string;
  /**
   * The name in node-pg-migrate's table when it differs from the file's: its CLI's legacy SQL loader
   * records `N_x.up.sql` as `N_x.up`. Adoption (`up`, `repair`) renames the row to `name`.
   */
  recordedAs?: string;
  /** When the migration ran: node-pg-migrate's `run_on`, also for adopted and repaired migrations. */
  appliedAt: Date;
  checksum: string | null;
  runId: string | null;
  source: string | null;
}
export interface DbState {
  /** Whether the migrations table exists (absent: a database never migrated). */
  exists: boolean;
  /** Whether the checksums table exists too (both present: nothing to create before recording). */
  checksumsExist: boolean;
  /** Applied migrations in the order they were applied. */
  applied: AppliedRow[];
  /** Pending names that `repair` allowed to run although they sort before applied ones. */
  allowedOutOfOrder: Set<string>;
}

/**
 * Read the state without writing anything (not even creating tables). With `files`, rows node-pg-migrate's
 * CLI recorded as `N_x.up` for a `N_x.up.sql` file are matched to their migration `N_x`.
 */
export async function readState(client: pg.ClientBase, t: Tables, files?: MigrationFile[]): Promise<DbState> {
  const { rows: [found] } = await client.query<{ m: string | null; c: string | null }>(
    'SELECT to_regclass($1)::text AS m, to_regclass($2)::text AS c',
    [t.migrations, t.checksums],
  );
  if (!found?.m) return { exists: false, checksumsExist: Boolean(found?.c), applied: [], allowedOutOfOrder: new Set() };
  const withChecksums = Boolean(found.c);
  const { rows } = await client.query<AppliedRow>(
    withChecksums
      ? `SELECT m.name, m.run_on::timestamptz AS "appliedAt", c.checksum, c.run_id::text AS "runId", c.source
           FROM ${t.migrations} m LEFT JOIN ${t.checksums} c ON c.name = m.name ORDER BY m.run_on, m.id`
      : `SELECT name, run_on::timestamptz AS "appliedAt", NULL AS checksum, NULL AS "runId", NULL AS source
           FROM ${t.migrations} ORDER BY run_on, id`,
  );
  const allowed = withChecksums
    ? (await client.query<{ name: string }>(
        `SELECT name FROM ${t.checksums} WHERE source = 'allow-out-of-order'
           AND name NOT IN (SELECT name FROM ${t.migrations})`,
      )).rows.map((r) => r.name)
    : [];
  return { exists: true, checksumsExist: withChecksums, applied: files ? matchLegacyNames(rows, files) : rows, allowedOutOfOrder: new Set(allowed) };
}

/** Rows named `N_x.up` by node-pg-migrate's legacy SQL loader, for a folder whose `N_x.up.sql` is migration `N_x`. */
function matchLegacyNames(rows: AppliedRow[], files: MigrationFile[]): AppliedRow[] {
  const byName = new Map(files.map((f) => [f.name, f]));
  const recorded = new Set(rows.map((r) => r.name));
  return rows.map((row) => {
    if (byName.has(row.name) || !row.name.endsWith('.up')) return row;
    const name = row.name.slice(0, -'.up'.length);
    const file = byName.get(name);
    if (!file || !file.path.endsWith('.up.sql') || recorded.has(name)) return row;
    return { ...row, name, recordedAs: row.name };
  });
}

/** Create the migrations table (node-pg-migrate's exact layout) and the checksums table if missing. */
export async function ensureTables(client: pg.ClientBase, t: Tables): Promise<void> {
  if (t.schema !== 'public') await client.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(t.schema)}`);
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${t.migrations} (id SERIAL PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL)`,
  );
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${t.checksums} (
       name varchar(255) PRIMARY KEY,
       checksum text NOT NULL,
       run_id uuid,
       source text NOT NULL,
       applied_at timestamptz NOT NULL DEFAULT now())`,
  );
}

/** A checksum row to insert or replace. */
export interface ChecksumRow {
  name: string;
  checksum: string;
  runId?: string | null;
  source: string;
}

/**
 * The statement that inserts or replaces a checksum row, values inlined as literals: `run` adds it to a
 * migration's own builder (`pgm.sql`), which takes no parameters, so it runs inside the migration's transaction.
 */
export function checksumSql(t: Tables, row: ChecksumRow): string {
  const lit = (v: string | null | undefined) => (v == null ? 'NULL' : pg.escapeLiteral(v));
  return `INSERT INTO ${t.checksums} (name, checksum, run_id, source) VALUES (${lit(row.name)}, ${lit(row.checksum)}, ${lit(row.runId)}, ${lit(row.source)})
     ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum, run_id = EXCLUDED.run_id,
       source = EXCLUDED.source, applied_at = now();`;
}

/**
 * Remove checksum rows of migrations no longer in the migrations table (reverted), except the ones
 * `repair` allowed to run out of order. Rows left by an interrupted `down` are harmless until swept:
 * readers join from the migrations table, and re-applying replaces them.
 */
export function sweepChecksumsSql(t: Tables): string {
  return `DELETE FROM ${t.checksums} c WHERE c.source <> 'allow-out-of-order'
     AND NOT EXISTS (SELECT 1 FROM ${t.migrations} m WHERE m.name = c.name)`;
}

/** Insert or replace a checksum row (inside the caller's transaction when there is one). */
export async function recordChecksum(client: pg.ClientBase, t: Tables, row: ChecksumRow): Promise<void> {
  await client.query(checksumSql(t, row));
}

/**
 * Compare folder and database: an applied migration whose file is gone (deleted) or differs from the
 * recorded checksum (edited), and a pending file sorting before an applied one (out-of-order).
 * Applied rows without a checksum (written by node-pg-migrate itself) are not problems: `up` records them.
 */
export function findProblems(files: MigrationFile[], state: DbState): Problem[] {
  const problems: Problem[] = [];
  const byName = new Map(files.map((f) => [f.name, f]));
  const appliedNames = new Set(state.applied.map((r) => r.name));
  for (const row of state.applied) {
    const file = byName.get(row.name);
    if (!file) {
      problems.push({
        name: row.name,
        kind: 'deleted',
        message: `${row.name} was applied on ${row.appliedAt.toISOString()} but its file is missing from the migrations folder.`,
      });
    } else if (row.checksum && row.checksum !== file.checksum) {
      problems.push({
        name: row.name,
        kind: 'edited',
        message: `${rel(file.path)} was edited after it was applied (recorded checksum ${row.checksum.slice(0, 12)}, file now ${file.checksum.slice(0, 12)}).`,
      });
    }
  }
  let lastAppliedIndex = -1;
  files.forEach((f, i) => { if (appliedNames.has(f.name)) lastAppliedIndex = i; });
  files.forEach((f, i) => {
    if (i < lastAppliedIndex && !appliedNames.has(f.name) && !state.allowedOutOfOrder.has(f.name)) {
      problems.push({
        name: f.name,
        kind: 'out-of-order',
        message: `${rel(f.path)} is not applied but sorts before the already applied ${files[lastAppliedIndex]!.name}; rename it to sort last.`,
      });
    }
  });
  return problems;
}

/** A path relative to the working directory, for messages. */
export function rel(path: string): string {
  const r = relative(process.cwd(), path);
  return r.startsWith('..') ? path : r;
}
