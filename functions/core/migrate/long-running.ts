/**
 * Long-running migrations: a migration that may take longer than one Lambda invocation can give it (a big
 * backfill, `CREATE INDEX CONCURRENTLY` on a large table) says so, and the fleet runs its target in a task
 * without the 15-minute limit (CodeBuild, see infra/fleet) instead of the Lambda worker:
 *
 * - SQL: a `-- migrator:long-running` line (like `-- migrator:no-transaction`, anywhere in the file);
 * - TypeScript/JavaScript: `export const longRunning = true`.
 *
 * Read from the files only (the marker is part of the checksummed source); which ones are pending comes
 * from the database, read-only (`status`). A run that turns out not to fit (it hits the invocation's
 * statement timeout or deadline inside a migration that runs in a transaction, so nothing of it stayed)
 * is handed over too: `runsInTransaction` tells whether that is safe.
 */
import { listMigrations, NO_TRANSACTION_MARKER, readMigrationText, type MigrationFile } from './files.ts';
import { renderUp } from './render.ts';
import { status } from './engine.ts';
import type { MigrationTarget } from './types.ts';

/** The marker a SQL migration uses to say it may outlast a Lambda invocation. */
export const LONG_RUNNING_MARKER = /^\s*--\s*migrator:long-running\b/im;

/** Whether the migration is marked long-running (SQL marker line, or a module's `longRunning = true` export). */
export async function isLongRunning(file: MigrationFile): Promise<boolean> {
  if (file.kind === 'sql') return file.files.some((f) => LONG_RUNNING_MARKER.test(readMigrationText(f)));
  return (await file.load()).longRunning === true;
}

/** Names of `files` (in order) that are marked long-running. */
export async function longRunningNames(files: MigrationFile[]): Promise<string[]> {
  const out: string[] = [];
  for (const f of files) if (await isLongRunning(f)) out.push(f.name);
  return out;
}

/** The folder's migrations and the ones `target` has not applied, in run order. Read-only. */
export async function pendingFiles(target: MigrationTarget): Promise<{ files: MigrationFile[]; pending: MigrationFile[] }> {
  const files = await listMigrations(target.dir);
  const names = new Set((await status(target)).pending.map((p) => p.name));
  return { files, pending: files.filter((f) => names.has(f.name)) };
}

/**
 * The pending migrations of `target` that are marked long-running, in run order (empty: the run fits the
 * usual runner). Read-only: takes no lock and writes nothing.
 */
export async function pendingLongRunning(target: MigrationTarget): Promise<string[]> {
  return longRunningNames((await pendingFiles(target)).pending);
}

/**
 * Whether `file` runs in a transaction of its own (so an interrupted run of it left nothing behind): SQL
 * without `-- migrator:no-transaction`; a module whose rendered up migration keeps its transaction. A module
 * that cannot be rendered (it queries the database while building) counts as not transactional.
 */
export async function runsInTransaction(files: MigrationFile[], file: MigrationFile): Promise<boolean> {
  if (file.kind === 'sql') return !file.files.some((f) => NO_TRANSACTION_MARKER.test(readMigrationText(f)));
  try {
    return (await renderUp(files, [file]))[0]?.transaction ?? false;
  } catch {
    return false;
  }
}
