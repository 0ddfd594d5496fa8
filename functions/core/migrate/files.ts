/**
 * The migrations folder: which files are migrations, their names, order, checksums and how to load them.
 *
 * Formats (node-pg-migrate's own, so an existing node-pg-migrate folder works unchanged):
 * - `NAME.sql` with `-- Up Migration` / `-- Down Migration` sections (no down section: not reversible);
 * - `NAME.up.sql` + optional `NAME.down.sql` pairs;
 * - `NAME.ts|.mts|.cts|.js|.mjs|.cjs` modules exporting `up(pgm)` and optionally `down(pgm)` / `shorthands`.
 *
 * A SQL migration opts out of its transaction (for `CREATE INDEX CONCURRENTLY` and friends) with a line
 * `-- migrator:no-transaction`; a module calls `pgm.noTransaction()`.
 *
 * TypeScript in a bundle: for `X.ts` the Lambda asset also ships `.compiled/X.mjs` (plain ESM, built at
 * bundling time). When that file exists it is imported instead of the `.ts`; the checksum is always
 * computed from the `.ts` source, so the same migration has the same checksum everywhere.
 */
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { MigrationBuilder } from 'node-pg-migrate';
import { getActions } from 'node-pg-migrate/sqlMigration';
import { compareMigrationFileNames } from 'node-pg-migrate/utils/comparators';
import { assertNumbered } from './naming.ts';

const SILENT = { debug() {}, info() {}, warn() {}, error() {} };
import { MigratorError } from '../errors.ts';
import { readInputBytes, readInputFile } from '../input-file.ts';

/** Actions of one migration as node-pg-migrate expects them. */
export interface MigrationActions {
  up: MigrationAction | false;
  down?: MigrationAction | false;
  shorthands?: Record<string, unknown>;
  /** `export const longRunning = true`: the migration may outlast a Lambda invocation (see long-running.ts). */
  longRunning?: boolean;
}
export type MigrationAction = (pgm: MigrationBuilder, run?: () => void) => Promise<void> | void;

export interface MigrationFile {
  /** Migration name: the file name without extension (and without `.up` for pairs). What the table stores. */
  name: string;
  /** The main source file (absolute path). */
  path: string;
  /**
   * The path node-pg-migrate identifies the migration by (its name is this path's basename without
   * extension): `path`, except `NAME.sql` for an `.up.sql`/`.down.sql` pair, as node-pg-migrate's own loader does.
   */
  id: string;
  /** All source files of the migration (a `.up.sql`/`.down.sql` pair has two). */
  files: string[];
  /** SHA-256 (hex) of the source file(s). */
  checksum: string;
  kind: 'sql' | 'module';
  /** Load the up/down functions (imports the module, or parses the SQL). */
  load(): Promise<MigrationActions>;
}

export const MODULE_EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'];
export const MIGRATION_EXTENSIONS = ['.sql', ...MODULE_EXTENSIONS];

/** The marker a SQL migration uses to run outside a transaction. */
export const NO_TRANSACTION_MARKER = /^\s*--\s*migrator:no-transaction\b/im;

/**
 * Regex (anchored by node-pg-migrate as `^...$`) of file names that are not migrations: dot files, type
 * declarations and anything without a migration extension (README.md, .gitkeep, ...).
 */
export const IGNORE_PATTERN = '(?:\\..*|.*\\.d\\.[cm]?ts|.*(?<!\\.sql|\\.[cm]?ts|\\.[cm]?js))';
const IGNORE = new RegExp(`^${IGNORE_PATTERN}$`);

/** Migration name of a file: without extension, and without `.up`/`.down` for SQL pairs. */
export function migrationName(file: string): string {
  const ext = extname(file);
  const stem = basename(file, ext);
  return ext === '.sql' ? stem.replace(/\.(up|down)$/, '') : stem;
}

/**
 * List the migrations in `dir` in node-pg-migrate's order. A missing folder (a typo in `--dir`) is an
 * error naming it, never "no migrations". Every migration file is read with the strict input reader
 * (regular file inside the folder, size limit): a symlink out of the folder or a special file (FIFO,
 * device) is refused naming the path, and the checksum is computed from exactly the checked bytes.
 */
export async function listMigrations(dir: string): Promise<MigrationFile[]> {
  const abs = resolve(dir);
  assertFolder(dir, abs);
  // Everything but directories: a FIFO or device named like a migration must be refused, not skipped.
  const entries = (await readdir(abs, { withFileTypes: true }))
    .filter((d) => !d.isDirectory() && !IGNORE.test(d.name))
    .map((d) => d.name);
  const groups = new Map<string, string[]>();
  for (const file of entries) {
    const name = migrationName(file);
    groups.set(name, [...(groups.get(name) ?? []), file]);
  }
  const result: MigrationFile[] = [];
  for (const [name, files] of groups) {
    result.push(describeMigration(abs, name, files));
  }
  // Same comparator node-pg-migrate's runner sorts with (numeric prefix, then natural order); it cannot
  // order a name without a number (and logs to the console before throwing): one clear error instead.
  assertNumbered(abs, result.map((m) => basename(m.id)));
  return result.sort((a, b) => compareMigrationFileNames(basename(a.id), basename(b.id), SILENT));
}

function describeMigration(dir: string, name: string, files: string[]): MigrationFile {
  const single = files.find((f) => migrationName(f) === name && !/\.(up|down)\.sql$/.test(f));
  const up = files.find((f) => f.endsWith('.up.sql'));
  const down = files.find((f) => f.endsWith('.down.sql'));
  if (files.length > 1 && (single || !up || files.length > 2)) {
    throw new Error(`Conflicting migration files for ${name} in ${dir}: ${files.sort().join(', ')}. Keep one.`);
  }
  if (down && !up) throw new Error(`${join(dir, down)} has no matching ${name}.up.sql.`);
  const main = join(dir, (single ?? up)!);
  const sources = [main, ...(down ? [join(dir, down)] : [])];
  const hash = createHash('sha256');
  // Synchronous on purpose: hundreds of small files read ~10x faster than one awaited readFile at a time.
  for (const f of sources) hash.update(readInputBytes(dir, basename(f), { display: displayPath(f) }));
  const checksum = hash.digest('hex');
  const kind = extname(main) === '.sql' ? 'sql' : 'module';
  return {
    name,
    path: main,
    id: up ? join(dir, `${name}.sql`) : main,
    files: sources,
    checksum,
    kind,
    load: () => (kind === 'sql' ? loadSql(main, down ? join(dir, down) : undefined) : loadModule(dir, main)),
  };
}

/** A folder given by the user must exist and be a folder; say which path was looked at. */
function assertFolder(dir: string, abs: string): void {
  let isDir: boolean;
  try {
    isDir = statSync(abs).isDirectory();
  } catch {
    throw new MigratorError(
      `Migrations folder ${dir} does not exist (looked at ${abs}). Check the folder name (the CLI's --dir, default "migrations", is relative to the current directory).`,
    );
  }
  if (!isDir) throw new MigratorError(`Migrations folder ${dir} is not a folder (${abs}). Check the folder name (the CLI's --dir).`);
}

/** A migration source as the strict reader checks it: regular file inside its folder, size limit, UTF-8. */
export function readMigrationText(path: string): string {
  return readInputFile(dirname(path), basename(path), { display: displayPath(path) });
}

/** The checked bytes of a migration source (see {@link readMigrationText}), without decoding. */
export function readMigrationBytes(path: string): Buffer {
  return readInputBytes(dirname(path), basename(path), { display: displayPath(path) });
}

function displayPath(path: string): string {
  const r = relative(process.cwd(), path);
  return r.startsWith('..') ? path : r;
}

async function loadSql(main: string, downFile?: string): Promise<MigrationActions> {
  const text = readMigrationText(main);
  const noTransaction = NO_TRANSACTION_MARKER.test(text);
  let actions: MigrationActions;
  if (main.endsWith('.up.sql')) {
    const downText = downFile ? readMigrationText(downFile) : undefined;
    actions = {
      up: (pgm) => void pgm.sql(text),
      down: downText === undefined ? false : (pgm) => void pgm.sql(downText),
    };
  } else {
    actions = getActions(text) as MigrationActions; // node-pg-migrate's own parser of the single-file format
  }
  if (!noTransaction) return actions;
  const optOut = (action: MigrationAction | false | undefined) =>
    action && ((pgm: MigrationBuilder) => (pgm.noTransaction(), action(pgm)));
  return { up: optOut(actions.up) || false, down: optOut(actions.down) };
}

/**
 * Import a migration module the way node-pg-migrate 9 does: through its own jiti instance, which loads ESM
 * or CommonJS syntax in `.js`, TypeScript (`.ts`/`.mts`/`.cts`), `.mjs` and `.cjs` whatever the nearest
 * package.json's `"type"` says, and needs no TypeScript loader (tsx) registered in the process.
 * A precompiled `.compiled/X.mjs` (the Lambda asset) is plain ESM and is imported natively.
 */
async function loadModule(dir: string, file: string): Promise<MigrationActions> {
  const ext = extname(file);
  const compiled = join(dir, '.compiled', `${basename(file, ext)}.mjs`);
  let ns: Record<string, unknown>;
  try {
    if (/\.[cm]?ts$/.test(ext) && existsSync(compiled)) {
      ns = (await import(pathToFileURL(compiled).href)) as Record<string, unknown>;
    } else {
      const { jiti } = await import('node-pg-migrate');
      ns = (await jiti.import(file)) as Record<string, unknown>;
    }
  } catch (error) {
    // Node's own message often names only a line of some imported file; say which migration it was.
    const why = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new MigratorError(`Migration ${displayPath(file)} failed to load: ${why}. Fix the file (or what it imports) and retry.`, { cause: error });
  }
  // CommonJS (`module.exports = {...}`, and some transpiled ESM) puts the exports on `default`.
  const mod = (typeof ns.up === 'function' || ns.up === false ? ns : (ns.default as Record<string, unknown>) ?? ns) as Partial<MigrationActions>;
  if (typeof mod.up !== 'function' && mod.up !== false) {
    throw new Error(`${file} does not export an up(pgm) function.`);
  }
  return { up: mod.up, down: mod.down, shorthands: mod.shorthands, ...(mod.longRunning === true ? { longRunning: true } : {}) };
}
