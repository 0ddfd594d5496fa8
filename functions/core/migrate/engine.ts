/**
 * The migration engine: node-pg-migrate's `runner` does the applying; around it this adds checksums,
 * validation, a waiting run lock with deadlines, precise errors, and read-only status/history/plan.
 */
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import type pg from 'pg';
import type { MigrationBuilder } from 'node-pg-migrate';
import { MigrationError, MigratorError, ValidationError, type Problem, type ValidationCommand } from '../errors.ts';
import { IGNORE_PATTERN, listMigrations, MIGRATION_EXTENSIONS, type MigrationAction, type MigrationActions, type MigrationFile } from './files.ts';
import { namingWarnings } from './naming.ts';
import { checkFolder, type FolderCheck, type RenderedSteps } from './folder-check.ts';
import { withClient, withLock } from './session.ts';
import {
  checksumSql, ensureTables, findProblems, readState, recordChecksum, rel, sweepChecksumsSql, tablesOf, type DbState, type Tables,
} from './state.ts';
import type {
  DownOptions, DownResult, HistoryEntry, MigrationTarget, PlanResult, SafetyOptions, StatusResult, UpOptions, UpResult,
} from './types.ts';

/**
 * Apply pending migrations (all, or up to and including `to`), each in its own transaction unless it opted
 * out. Refuses with ValidationError before changing anything when files and database disagree. Each
 * migration's checksum and run id are written in the same transaction as the migration itself.
 */
export async function up(target: MigrationTarget, options: UpOptions = {}): Promise<UpResult> {
  const runId = options.runId ?? randomUUID();
  const t = tablesOf(target);
  const files = await listMigrations(target.dir);
  return withClient(target, (client) =>
    withLock(client, t, options, async () => {
      // Everything is checked before the first write (not even the migrations table is created on refusal).
      const { state, warnings } = await validatedState(client, t, target.dir, files, 'up');
      for (const w of warnings) options.log?.(`warning: ${w.message}`);
      const pending = pendingOf(files, state);
      const toRun = options.to === undefined ? pending : upTo(pending, files, state, options.to);
      await options.onValidated?.();
      if (toRun.length > 0 || state.exists) {
        // Both tables there (every run after the first): skip the CREATE ... IF NOT EXISTS round trips.
        if (!state.exists || !state.checksumsExist) await ensureTables(client, t);
        if (unrecorded(files, state).length > 0) await transaction(client, () => adoptUnrecorded(client, t, files, state, runId).then(() => {}));
      }
      if (toRun.length === 0) return { applied: [], lastMigration: last(state), runId, warnings };
      const applied = await run(client, target, t, files, {
        direction: 'up', count: toRun.length, runId, log: options.log, onMigration: options.onMigration,
        alreadyApplied: new Set(state.applied.map((r) => r.name)),
      });
      return { applied, lastMigration: applied.at(-1) ?? last(state), runId, warnings };
    }),
  );
}

/**
 * Revert the most recent migrations: `count` of them (default 1), or all applied after `to`.
 * For humans only (the CLI); deploy paths never call it.
 */
export async function down(target: MigrationTarget, options: DownOptions = {}): Promise<DownResult> {
  const t = tablesOf(target);
  const files = await listMigrations(target.dir);
  return withClient(target, (client) =>
    withLock(client, t, options, async () => {
      const state = await checkedState(client, t, files);
      const names = state.applied.map((r) => r.name);
      let count = options.count ?? 1;
      if (options.to !== undefined) {
        const to = resolveName(files, state, options.to);
        const index = names.indexOf(to);
        if (index < 0) throw new MigratorError(`Cannot revert to ${to}: it is not applied (applied: ${names.join(', ') || 'none'}).`);
        count = names.length - index - 1;
      }
      if (!Number.isInteger(count) || count < 0) throw new MigratorError(`Invalid count ${count}: expected a whole number >= 0.`);
      count = Math.min(count, names.length);
      await options.onValidated?.();
      if (count === 0) return { reverted: [], lastMigration: last(state) };
      await assertReversible(files, names.slice(names.length - count));
      const reverted = await run(client, target, t, files, { direction: 'down', count, log: options.log, onMigration: options.onMigration });
      const remaining = names.slice(0, names.length - reverted.length);
      return { reverted, lastMigration: remaining.at(-1) ?? null };
    }),
  );
}

/** Refuse, before anything runs, to revert a migration that has no down migration (SQL without a down section, `down = false`). */
async function assertReversible(files: MigrationFile[], names: string[]): Promise<void> {
  const byName = new Map(files.map((f) => [f.name, f]));
  for (const name of names.toReversed()) {
    const file = byName.get(name);
    if (!file) continue; // deleted files are refused by validation already
    if ((await file.load()).down !== false) continue;
    const how = file.kind === 'sql'
      ? file.path.endsWith('.up.sql')
        ? `it has no ${name}.down.sql beside it`
        : 'it has no "-- Down Migration" section'
      : 'it exports down = false';
    throw new MigratorError(
      `Cannot revert ${name}: ${rel(file.path)} has no down migration (${how}). Nothing was reverted. ` +
        'Add the down SQL to the file (then run `migrator repair`, as the file changed), or revert fewer migrations.',
    );
  }
}

/** Applied and pending migrations and problems. Read-only (creates nothing). */
export async function status(target: MigrationTarget): Promise<StatusResult> {
  const t = tablesOf(target);
  const files = await listMigrations(target.dir);
  const state = await withClient(target, (client) => readState(client, t, files));
  return {
    applied: state.applied.map((r) => ({ name: r.name, checksum: r.checksum, appliedAt: r.appliedAt.toISOString() })),
    pending: pendingOf(files, state).map((f) => ({ name: f.name })),
    problems: findProblems(files, state),
    warnings: namingWarnings(files.map((f) => f.name)),
  };
}

/**
 * Validation only: the problems `up` would refuse on (empty: fine), folder and database alike, and the
 * warnings it would print. Read-only.
 */
export async function validate(target: MigrationTarget): Promise<{ problems: Problem[]; warnings: Problem[] }> {
  const t = tablesOf(target);
  const files = await listMigrations(target.dir);
  const state = await withClient(target, (client) => readState(client, t, files));
  const folder = await checkFolderFor(target.dir, files, state);
  return { problems: [...findProblems(files, state), ...folder.problems], warnings: folder.warnings };
}

/** Applied migrations in order, with when, by which run id, and how (applied, baseline, adopted, repair). Read-only. */
export async function history(target: MigrationTarget): Promise<HistoryEntry[]> {
  const t = tablesOf(target);
  const files = await listMigrations(target.dir);
  const state = await withClient(target, (client) => readState(client, t, files));
  return state.applied.map((r) => ({
    name: r.name,
    checksum: r.checksum,
    appliedAt: r.appliedAt.toISOString(),
    runId: r.runId,
    source: r.source,
  }));
}

/**
 * The pending migrations (up to `to`) and the exact SQL each would run. Writes nothing at all: the SQL is
 * rendered with node-pg-migrate's MigrationBuilder without a database, and state is only read.
 */
export async function plan(target: MigrationTarget, options: { to?: string } = {}): Promise<PlanResult> {
  const t = tablesOf(target);
  const files = await listMigrations(target.dir);
  const { state, warnings } = await withClient(target, (client) => validatedState(client, t, target.dir, files, 'plan'));
  const pending = pendingOf(files, state);
  const chosen = options.to === undefined ? pending : upTo(pending, files, state, options.to);
  return { pending: await renderUp(files, chosen), warnings };
}

/**
 * Render the up SQL of `chosen` (a subset of `files`), carrying type shorthands from earlier migrations
 * as the runner does. A migration that queries the database while building (pgm.db) cannot be rendered.
 */
export async function renderUp(files: MigrationFile[], chosen: MigrationFile[]): Promise<PlanResult['pending']> {
  return (await renderSteps(files, chosen, { strict: true })).map((r) => ({
    name: r.file.name, file: rel(r.file.path), transaction: r.transaction, sql: r.steps!.join('\n'),
  }));
}

/** A migration queried the database while building its SQL. */
class UnrenderableError extends MigratorError {
  override name = 'UnrenderableError';
}

/**
 * The SQL steps (one query each) of `chosen`. `strict`: a migration that cannot be rendered is an error
 * (plan); otherwise its steps are null (the folder check skips it; PostgreSQL will judge it at run time).
 */
async function renderSteps(files: MigrationFile[], chosen: MigrationFile[], options: { strict: boolean }): Promise<RenderedSteps[]> {
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

/**
 * Mark pending migrations up to and including `to` as applied without running them (to adopt a database
 * whose schema already exists). Records their checksums with source 'baseline'.
 */
export async function baseline(
  target: MigrationTarget,
  options: SafetyOptions & { to: string; runId?: string; confirm?: Confirm<string[]> },
): Promise<{ marked: string[]; written: boolean }> {
  const t = tablesOf(target);
  const files = await listMigrations(target.dir);
  return withClient(target, (client) =>
    withLock(client, t, options, async () => {
      const state = await checkedState(client, t, files);
      const chosen = upTo(pendingOf(files, state), files, state, options.to);
      await options.onValidated?.();
      const marked = chosen.map((f) => f.name);
      const written = await confirmedTransaction(client, marked.length ? options.confirm : undefined, marked, async () => {
        await ensureTables(client, t);
        for (const f of chosen) {
          await client.query(`INSERT INTO ${t.migrations} (name, run_on) VALUES ($1, now())`, [f.name]);
          await recordChecksum(client, t, { name: f.name, checksum: f.checksum, runId: options.runId, source: 'baseline' });
        }
      });
      return { marked, written };
    }),
  );
}

/** One change made by `repair`. */
export interface RepairChange {
  name: string;
  action: 'checksum-updated' | 'checksum-recorded' | 'deleted-row-removed' | 'out-of-order-allowed';
}

/**
 * Asked with the exact changes a command is about to commit (inside its transaction, under the lock);
 * false rolls them back. The CLI answers from --yes or an interactive prompt.
 */
export type Confirm<T> = (changes: T) => boolean | Promise<boolean>;

/** Run `work` in a transaction, then commit only if `confirm` (when given) accepts `changes`. */
async function confirmedTransaction<T>(client: pg.ClientBase, confirm: Confirm<T> | undefined, changes: T, work: () => Promise<void>): Promise<boolean> {
  const declined = new Error('declined');
  try {
    await transaction(client, async () => {
      await work();
      if (confirm && !(await confirm(changes))) throw declined;
    });
    return true;
  } catch (error) {
    if (error === declined) return false;
    throw error;
  }
}

/**
 * Accept the current files after a human decided they are right (Flyway's repair): edited migrations get
 * the current checksum, rows of deleted migrations are removed from the table (their schema changes stay),
 * out-of-order files are allowed to run, applied rows without checksum get one. One transaction.
 */
export async function repair(
  target: MigrationTarget,
  options: SafetyOptions & { runId?: string; confirm?: Confirm<RepairChange[]> } = {},
): Promise<{ changes: RepairChange[]; written: boolean }> {
  const t = tablesOf(target);
  const files = await listMigrations(target.dir); // a missing folder is an error
  if (files.length === 0) {
    // An empty folder makes every applied migration "deleted": repairing would erase the whole record.
    throw new MigratorError(
      `Refusing to repair: no migrations found in ${target.dir} (${resolve(target.dir)}), so repair would remove the record of every applied migration. Check the folder name (the CLI's --dir). Nothing was changed.`,
    );
  }
  const byName = new Map(files.map((f) => [f.name, f]));
  return withClient(target, (client) =>
    withLock(client, t, options, async () => {
      const state = await readState(client, t, files);
      await options.onValidated?.();
      const changes: RepairChange[] = [];
      if (!state.exists) return { changes, written: false };
      // The changes are computed by making them; the confirmation sees them before the commit.
      const written = await confirmedTransaction(client, options.confirm && ((c: RepairChange[]) => c.length === 0 || options.confirm!(c)), changes, async () => {
        await ensureTables(client, t);
        for (const p of findProblems(files, state)) {
          const file = byName.get(p.name);
          if (p.kind === 'deleted') {
            await client.query(`DELETE FROM ${t.migrations} WHERE name = $1`, [p.name]);
            await client.query(`DELETE FROM ${t.checksums} WHERE name = $1`, [p.name]);
            changes.push({ name: p.name, action: 'deleted-row-removed' });
          } else if (file) {
            const source = p.kind === 'edited' ? 'repair' : 'allow-out-of-order';
            await recordChecksum(client, t, { name: p.name, checksum: file.checksum, runId: options.runId, source });
            changes.push({ name: p.name, action: p.kind === 'edited' ? 'checksum-updated' : 'out-of-order-allowed' });
          }
        }
        for (const name of await adoptUnrecorded(client, t, files, state, options.runId)) changes.push({ name, action: 'checksum-recorded' });
      });
      return { changes, written: written && changes.length > 0 };
    }),
  );
}

// ---------------------------------------------------------------------------------------------------------

/**
 * node-pg-migrate's bundle (runner, MigrationBuilder; it also loads glob and jiti) is imported only when a
 * migration has to run or be rendered: validation and "nothing to apply" never need it.
 */
function nodePgMigrate(): Promise<typeof import('node-pg-migrate')> {
  return import('node-pg-migrate');
}

/** The folder check for what `state` says is applied, module migrations rendered to SQL for it. */
async function checkFolderFor(dir: string, files: MigrationFile[], state: DbState): Promise<FolderCheck> {
  const folder = await checkFolder({
    dir,
    files,
    applied: new Set(state.applied.map((r) => r.name)),
    renderModules: (chosen) => renderSteps(files, chosen, { strict: false }),
  });
  return { ...folder, warnings: [...folder.warnings, ...namingWarnings(files.map((f) => f.name))] };
}

/** State plus every check `up`/`plan` refuse on (folder and database); throws ValidationError, writes nothing. */
async function validatedState(
  client: pg.ClientBase, t: Tables, dir: string, files: MigrationFile[], command: ValidationCommand,
): Promise<{ state: DbState; warnings: Problem[] }> {
  const state = await readState(client, t, files);
  const folder = await checkFolderFor(dir, files, state);
  const problems = [...findProblems(files, state), ...folder.problems];
  if (problems.length > 0) throw new ValidationError(problems, command);
  return { state, warnings: folder.warnings };
}

async function checkedState(client: pg.ClientBase, t: Tables, files: MigrationFile[]): Promise<DbState> {
  const state = await readState(client, t, files);
  const problems = findProblems(files, state);
  if (problems.length > 0) throw new ValidationError(problems);
  return state;
}

function pendingOf(files: MigrationFile[], state: DbState): MigrationFile[] {
  const applied = new Set(state.applied.map((r) => r.name));
  return files.filter((f) => !applied.has(f.name));
}

/**
 * The migration `to` names: its full name, or a prefix only one migration (file or applied row) starts
 * with, so `--to 0009` works. Several candidates: an error listing them.
 */
function resolveName(files: MigrationFile[], state: DbState, to: string): string {
  const names = [...new Set([...files.map((f) => f.name), ...state.applied.map((r) => r.name)])];
  if (names.includes(to)) return to;
  const candidates = names.filter((n) => n.startsWith(to));
  if (candidates.length > 1) throw new MigratorError(`"${to}" matches several migrations (${candidates.join(', ')}): give more of the name.`);
  return candidates[0] ?? to;
}

function upTo(pending: MigrationFile[], files: MigrationFile[], state: DbState, given: string): MigrationFile[] {
  const to = resolveName(files, state, given);
  const index = pending.findIndex((f) => f.name === to);
  if (index >= 0) return pending.slice(0, index + 1);
  if (state.applied.some((r) => r.name === to)) return [];
  const known = files.map((f) => f.name).join(', ') || 'none';
  throw new MigratorError(`Unknown migration ${to}: no such file in the migrations folder (migrations: ${known}).`);
}

function last(state: DbState): string | null {
  return state.applied.at(-1)?.name ?? null;
}

/** Applied rows with a file but no checksum (applied by plain node-pg-migrate), or recorded under its CLI's `N_x.up` name. */
function unrecorded(files: MigrationFile[], state: DbState) {
  const byName = new Map(files.map((f) => [f.name, f]));
  return state.applied.flatMap((row) => {
    const file = byName.get(row.name);
    return file && (row.checksum === null || row.recordedAs) ? [{ row, file }] : [];
  });
}

/**
 * Adopt migrations node-pg-migrate applied: rename rows its CLI recorded as `N_x.up` to the migration's
 * name (so its runner, which we drive, sees them as applied) and record their checksums (trust on first
 * use). Each keeps its `run_on`: when it ran. Run inside the caller's transaction.
 */
async function adoptUnrecorded(client: pg.ClientBase, t: Tables, files: MigrationFile[], state: DbState, runId?: string): Promise<string[]> {
  const adopted: string[] = [];
  for (const { row, file } of unrecorded(files, state)) {
    if (row.recordedAs) await client.query(`UPDATE ${t.migrations} SET name = $1 WHERE name = $2`, [row.name, row.recordedAs]);
    await recordChecksum(client, t, { name: row.name, checksum: file.checksum, runId, source: 'adopted' });
    adopted.push(row.name);
  }
  return adopted;
}

async function transaction(client: pg.ClientBase, fn: () => Promise<void>): Promise<void> {
  await client.query('BEGIN');
  try {
    await fn();
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

interface RunOptions {
  direction: 'up' | 'down';
  count: number;
  runId?: string;
  log?: (line: string) => void;
  /**
   * On up: applied migrations. Their SQL files are not read (the runner never runs them and SQL has no
   * shorthands), so an adopted history with, say, a Latin-1 file only warns and never blocks.
   */
  alreadyApplied?: ReadonlySet<string>;
  onMigration?: SafetyOptions['onMigration'];
}

/**
 * Drive node-pg-migrate's runner on our locked session. Bookkeeping goes through public mechanisms only:
 * the loader wraps each migration's action so that, after the migration's own steps, it adds the checksum
 * statement to the migration's builder (`pgm.sql`), and node-pg-migrate runs it inside the migration's
 * transaction like any other step. The thin client wrapper (1) remembers the last statement for error
 * reports and (2) sends our checksum statement together with the runner's next statement (its mark-as-run
 * INSERT/DELETE, whatever its text), so the bookkeeping costs no round trip of its own.
 * Returns the names applied/reverted.
 */
async function run(
  client: pg.ClientBase,
  target: MigrationTarget,
  t: Tables,
  files: MigrationFile[],
  options: RunOptions,
): Promise<string[]> {
  const done: string[] = [];
  let current: { file: MigrationFile; pgm?: MigrationBuilder } | undefined;
  let lastStatement = '';
  /** Our bookkeeping statements (exact text) and the migration each belongs to. */
  const ours = new Map<string, string>();
  let held: string | undefined;
  // When each migration's action was called (its statements run next), for its duration.
  const startedAt = new Map<string, number>();
  let previousEnd = performance.now();
  const finished = (name: string, direction: 'up' | 'down') => {
    const now = performance.now();
    options.onMigration?.({ name, direction, durationMs: Math.round(now - (startedAt.get(name) ?? previousEnd)) });
    previousEnd = now;
  };
  const settle = (sql: string) => {
    const name = ours.get(sql);
    if (name === undefined) return;
    done.push(name);
    options.log?.(`applied ${name}`);
    finished(name, 'up');
  };

  const wrapped = {
    query: async (text: string | pg.QueryConfig, values?: unknown[]) => {
      const plain = typeof text === 'string' && values === undefined; // one simple query may hold several statements
      if (plain && ours.has(text) && held === undefined) {
        held = text; // goes out with the next statement, in the same transaction
        return { command: 'INSERT', rowCount: 0, oid: 0, rows: [], fields: [] };
      }
      const carried = held;
      held = undefined;
      if (carried !== undefined && !plain) {
        await client.query(carried);
        settle(carried);
      }
      const merged = carried !== undefined && plain;
      const query = merged ? `${carried}\n${text as string}` : text;
      lastStatement = typeof query === 'string' ? query : query.text;
      const result = await client.query(query as string, values);
      if (merged) settle(carried);
      // A multi-statement text answers with one result per statement: the runner wants its own (the last).
      return Array.isArray(result) ? result.at(-1) : result;
    },
  };

  // Serve the runner our already listed files, wrapped to know which migration is running; on the way up,
  // the checksum statement becomes the migration's last step. Reverting, the runner builds a migration
  // without `down` in reverse mode, where no step can be added: reverted rows are swept after the run.
  const loader = async (paths: string[]) => {
    const units = new Map<string, { id: string; filePaths: string[]; actions: MigrationActions }>();
    for (const path of paths) {
      const file = files.find((f) => f.files.includes(path) || f.id === path);
      if (!file || units.has(file.name)) continue;
      const skip = file.kind === 'sql' && options.alreadyApplied?.has(file.name);
      const actions: MigrationActions = skip ? { up: false, down: false } : await file.load();
      const begin = (pgm: MigrationBuilder) => {
        if (options.direction === 'down' && current && current.file !== file) settleDown(current.file.name);
        current = { file, pgm };
        startedAt.set(file.name, performance.now());
      };
      const up = actions.up;
      const down = actions.down === undefined && typeof up === 'function'
        ? (pgm: MigrationBuilder) => (pgm.enableReverseMode(), call(up, pgm)) // what the runner does for a missing down
        : actions.down;
      units.set(file.name, {
        id: file.id,
        filePaths: file.files,
        actions: {
          ...actions,
          up: typeof up === 'function'
            ? async (pgm: MigrationBuilder) => {
                begin(pgm);
                await call(up, pgm);
                const sql = checksumSql(t, { name: file.name, checksum: file.checksum, runId: options.runId, source: 'applied' });
                ours.set(sql, file.name);
                pgm.sql(sql);
              }
            : up,
          down: typeof down === 'function' ? async (pgm: MigrationBuilder) => (begin(pgm), call(down, pgm)) : down,
        },
      });
    }
    return [...units.values()];
  };
  const settleDown = (name: string) => {
    done.push(name);
    options.log?.(`reverted ${name}`);
    finished(name, 'down');
  };

  const { runner } = await nodePgMigrate();
  try {
    await runner({
      dbClient: wrapped as unknown as pg.ClientBase,
      dir: resolve(target.dir),
      ignorePattern: IGNORE_PATTERN,
      migrationsTable: t.table,
      migrationsSchema: t.schema,
      direction: options.direction,
      count: options.count,
      noLock: true, // our own waiting lock is held (see withLock)
      checkOrder: false, // validated already, with file names in the message
      singleTransaction: false, // one transaction per migration
      migrationLoaderStrategies: [{ extensions: MIGRATION_EXTENSIONS, loader: loader as never }],
      logger: options.log ? { debug: () => {}, info: options.log, warn: options.log, error: () => {} } : silentLogger(),
    });
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    if (!current || done.includes(current.file.name)) {
      throw error instanceof Error && !(error instanceof MigratorError)
        ? new MigratorError(error.message, { cause: error })
        : error;
    }
    const err = error as Error & { code?: string; position?: string };
    const fromDb = typeof err.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code);
    throw new MigrationError(
      {
        migration: current.file.name,
        file: rel(current.file.path),
        statement: fromDb ? statementAt(lastStatement, err.position) : undefined,
        sqlstate: fromDb ? err.code : undefined,
        pgMessage: err.message,
        transactional: current.pgm ? current.pgm.isUsingTransaction() : true,
        appliedBefore: [...done],
      },
      { cause: error },
    );
  } finally {
    // Best effort: rows left behind are harmless (see sweepChecksumsSql) and must not mask the run's error.
    if (options.direction === 'down') await client.query(sweepChecksumsSql(t)).catch(() => {});
  }
  if (options.direction === 'down' && current && !done.includes(current.file.name)) settleDown(current.file.name);
  // A statement still held (a runner that sends nothing after a migration's steps) runs now.
  if (held !== undefined) {
    const sql = held;
    held = undefined;
    await client.query(sql);
    settle(sql);
  }
  // Safety net: every migration the runner applied ran its checksum step; fail loudly should that ever change.
  if (options.direction === 'up' && done.length !== options.count) {
    throw new MigratorError(`Internal error: applied migrations were not recorded with checksums (${done.length}/${options.count}).`);
  }
  return done;
}

/** The statement around PostgreSQL's error position (1-based), for multi-statement SQL migrations. */
export function statementAt(sql: string, position?: string): string {
  const pos = position ? Number(position) - 1 : NaN;
  let text = sql;
  if (Number.isFinite(pos) && pos >= 0 && pos < sql.length) {
    const start = sql.lastIndexOf(';', pos - 1) + 1;
    const end = sql.indexOf(';', pos);
    text = sql.slice(start, end < 0 ? sql.length : end + 1);
  }
  return text.replace(/^(\s*--[^\n]*(\n|$))+/, '').trim();
}

async function call(action: MigrationAction, pgm: MigrationBuilder): Promise<void> {
  if (action.length >= 2) await new Promise<void>((done) => void action(pgm, done));
  else await action(pgm);
}

function silentLogger() {
  const nothing = () => {};
  return { debug: nothing, info: nothing, warn: nothing, error: nothing };
}

