/**
 * SQL rendering: a migration's up SQL built with node-pg-migrate's MigrationBuilder and no database, for
 * `plan`, `lint` and the folder check.
 */
import { MigratorError } from '../errors.ts';
import type { MigrationFile } from './files.ts';
import { isLongRunning } from './long-running.ts';
import type { RenderedSteps } from './folder-check.ts';
import { call, nodePgMigrate, silentLogger } from './node-pg-migrate.ts';
import { rel } from './state.ts';
import type { PlanResult } from './types.ts';

/**
 * Render the up SQL of `chosen` (a subset of `files`), carrying type shorthands from earlier migrations
 * as the runner does. A migration that queries the database while building (pgm.db) cannot be rendered.
 */
export async function renderUp(files: MigrationFile[], chosen: MigrationFile[]): Promise<PlanResult['pending']> {
  const out: PlanResult['pending'] = [];
  for (const r of await renderSteps(files, chosen, { strict: true })) {
    out.push({ name: r.file.name, file: rel(r.file.path), transaction: r.transaction, longRunning: await isLongRunning(r.file), sql: r.steps!.join('\n') });
  }
  return out;
}

/** A migration queried the database while building its SQL. */
class UnrenderableError extends MigratorError {
  override name = 'UnrenderableError';
}

/**
 * The SQL steps (one query each) of `chosen`. `strict`: a migration that cannot be rendered is an error
 * (plan); otherwise its steps are null (the folder check skips it; PostgreSQL will judge it at run time).
 */
export async function renderSteps(files: MigrationFile[], chosen: MigrationFile[], options: { strict: boolean }): Promise<RenderedSteps[]> {
  const wanted = new Set(chosen.map((f) => f.name));
  if (wanted.size === 0) return [];
  const { MigrationBuilder } = await nodePgMigrate();
  let shorthands: Record<string, unknown> = {};
  const out: RenderedSteps[] = [];
  for (const file of files) {
    if (!wanted.has(file.name) && file.kind === 'sql') continue; // SQL migrations have no shorthands
    const actions = await file.load();
    shorthands = { ...shorthands, ...actions.shorthands };
    if (!wanted.has(file.name)) continue;
    const noDb = () => Promise.reject(new UnrenderableError(`${rel(file.path)} queries the database while building its SQL; it cannot be planned.`));
    const pgm = new MigrationBuilder(
      { query: noDb, select: noDb } as never,
      shorthands as never,
      false,
      silentLogger(),
    );
    if (typeof actions.up !== 'function') {
      if (options.strict) throw new MigratorError(`${rel(file.path)} has no up migration.`);
      out.push({ file, transaction: true, steps: null });
      continue;
    }
    try {
      await call(actions.up, pgm);
    } catch (error) {
      if (options.strict || !(error instanceof UnrenderableError)) {
        if (error instanceof MigratorError) throw error;
        const why = error instanceof Error ? error.message : String(error);
        throw new MigratorError(`Migration ${rel(file.path)} failed while building its SQL: ${why}`, { cause: error });
      }
      out.push({ file, transaction: true, steps: null });
      continue;
    }
    out.push({ file, transaction: pgm.isUsingTransaction(), steps: pgm.getSqlSteps() });
  }
  return out;
}
