/**
 * The node-pg-migrate adapter: drives its `runner` on our locked session, with the checksum statement
 * added to each migration's own builder, and turns its failures into MigrationErrors naming the file.
 */
import { resolve } from 'node:path';
import type pg from 'pg';
import type { MigrationBuilder } from 'node-pg-migrate';
import { MigrationError, MigratorError } from '../errors.ts';
import { IGNORE_PATTERN, MIGRATION_EXTENSIONS, type MigrationActions, type MigrationFile } from './files.ts';
import { call, nodePgMigrate, silentLogger } from './node-pg-migrate.ts';
import { checksumSql, rel, sweepChecksumsSql, type Tables } from './state.ts';
import type { MigrationTarget, SafetyOptions } from './types.ts';

export interface RunOptions {
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
export async function run(
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
