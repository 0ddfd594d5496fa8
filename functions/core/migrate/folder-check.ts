/**
 * The one migration-folder validator, run by `validate`, `plan` and `up` (so also by the Lambda custom
 * resource) before anything executes. It finds what node-pg-migrate would accept silently and get wrong:
 *
 * - `down-only`: a SQL file with a `-- Down Migration` section and no `-- Up Migration` section
 *   (node-pg-migrate runs the whole file, i.e. the Down SQL, on up); an `.up.sql` with a Down section;
 * - `transaction-control`: COMMIT, ROLLBACK, BEGIN, SAVEPOINT, PREPARE TRANSACTION ... at the top level of
 *   a migration, found by PostgreSQL's own parser (libpg-query), so `BEGIN` inside a `DO` block is fine;
 * - `duplicate-number`: two migrations with the same numeric prefix;
 * - `empty`: a migration with no statement (empty, or comments only);
 * - `skipped-file`: a file that looks like a migration but that the loader skips (`0009_x.SQL`, `0009_x.sql.txt`);
 * - `not-utf8`: a migration whose bytes are not UTF-8;
 * - `no-migrations`: a folder with no migrations for a database that has none applied.
 *
 * Pending migrations with such a problem are refused; applied ones only give warnings, so a database
 * adopted with a messy history is never blocked by it. (Symlinks out of the folder and special files are
 * refused earlier, by the strict reader in `listMigrations`, for every command.)
 *
 * The parser (a 1.7 MB WebAssembly module) is imported only when a pending migration's SQL holds a word
 * a transaction control statement could start with, or nothing plainly a statement (see `plainlyFine`):
 * a deploy with nothing to apply, or with ordinary DDL, never loads it.
 */
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InputFileError, decodeUtf8 } from '../input-file.ts';
import { oneLine, type Problem } from '../errors.ts';
import { MIGRATION_EXTENSIONS, NO_TRANSACTION_MARKER, migrationName, readMigrationBytes, type MigrationFile } from './files.ts';
import { rel } from './state.ts';

export interface FolderCheck {
  /** Refusals: each names the file and says what to do. */
  problems: Problem[];
  /** Things worth knowing that never block (problems of already applied migrations). */
  warnings: Problem[];
}

/** What a module migration renders to: its SQL steps (each sent as one query), or null when it cannot be rendered. */
export interface RenderedSteps {
  file: MigrationFile;
  transaction: boolean;
  steps: string[] | null;
}

export interface FolderCheckInput {
  /** The migrations folder as the user named it. */
  dir: string;
  /** `listMigrations(dir)`. */
  files: MigrationFile[];
  /** Names the database has applied. */
  applied: ReadonlySet<string>;
  /**
   * Render pending TypeScript/JavaScript migrations to their SQL steps (the engine's MigrationBuilder
   * without a database). Without it, module migrations are not checked for transaction control.
   */
  renderModules?: (files: MigrationFile[]) => Promise<RenderedSteps[]>;
}

// node-pg-migrate's own section markers (sqlMigration.ts), so we see the file exactly as its loader does.
const UP_MARKER = /^\s*--[\s-]*up\s+migration/im;
const DOWN_MARKER = /^\s*--[\s-]*down\s+migration/im;

/** Check the folder; see the module comment. Reads files, never the database. */
export async function checkFolder(input: FolderCheckInput): Promise<FolderCheck> {
  const { dir, files, applied } = input;
  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  const report = (isApplied: boolean, p: Problem) => {
    if (isApplied) warnings.push({ ...p, message: `${p.message} (Already applied, so this is only a warning.)` });
    else problems.push(p);
  };

  if (files.length === 0 && applied.size === 0) {
    problems.push({
      name: dir,
      kind: 'no-migrations',
      message: `No migrations found in ${dir} (${resolve(dir)}): it holds no .sql, .ts or .js migration files. Check the folder name (the CLI's --dir).`,
    });
  }

  skippedLookalikes(dir, files, applied, report);
  duplicateNumbers(files, applied, problems, warnings);

  // Per-file content: UTF-8 and section markers for every migration (cheap), statements for pending ones.
  const toParse: { file: MigrationFile; sql: string; line: number; transaction: boolean }[] = [];
  for (const file of files) {
    const isApplied = applied.has(file.name);
    let texts: string[];
    try {
      texts = file.files.map((f) => decodeUtf8(readMigrationBytes(f), rel(f)));
    } catch (error) {
      if (!(error instanceof InputFileError)) throw error;
      report(isApplied, { name: file.name, kind: 'not-utf8', message: `${error.message}.` });
      continue;
    }
    if (file.kind !== 'sql') continue;
    const text = texts[0]!;
    const up = text.search(UP_MARKER);
    const down = text.search(DOWN_MARKER);
    if (file.path.endsWith('.up.sql')) {
      if (down >= 0) {
        report(isApplied, {
          name: file.name,
          kind: 'down-only',
          message: `${rel(file.path)} has a "-- Down Migration" section, but an .up.sql file runs whole on up, Down SQL included. Move the Down SQL to ${file.name}.down.sql.`,
        });
        continue;
      }
    } else if (down >= 0 && up < 0) {
      report(isApplied, {
        name: file.name,
        kind: 'down-only',
        message: `${rel(file.path)} has a "-- Down Migration" section and no "-- Up Migration" section: node-pg-migrate would run the whole file, its Down SQL included, on up. Add a "-- Up Migration" line above the up SQL.`,
      });
      continue;
    }
    if (isApplied) continue;
    // The up SQL exactly as node-pg-migrate's loader cuts it out of the file.
    const start = up >= 0 ? up : 0;
    const end = up >= 0 && down > up ? down : text.length;
    toParse.push({
      file,
      sql: text.slice(start, end),
      line: text.slice(0, start).split('\n').length,
      transaction: !NO_TRANSACTION_MARKER.test(text),
    });
  }

  const pendingModules = files.filter((f) => f.kind === 'module' && !applied.has(f.name));
  const rendered = pendingModules.length > 0 && input.renderModules ? await input.renderModules(pendingModules) : [];

  for (const m of toParse) {
    if (plainlyFine(m.sql)) continue;
    const parser = await loadParser();
    const stmts = await parser.statements(m.sql);
    if (stmts === null) continue; // PostgreSQL rejects the whole query string at run time: nothing of it runs
    if (stmts.length === 0) {
      problems.push({
        name: m.file.name,
        kind: 'empty',
        message: `${rel(m.file.path)} has no SQL statement to run (it is empty or only comments), so it would be recorded as applied without doing anything. Add its SQL or delete the file.`,
      });
      continue;
    }
    const found = transactionControl([stmts], m.transaction);
    if (found) {
      const { line, text } = locate(m.sql, found.stmt, m.line);
      problems.push(txProblem(m.file, `${rel(m.file.path)}:${line}`, text, found.why));
    }
  }
  for (const r of rendered) {
    if (!r.steps) continue;
    if (r.steps.length > 0 && r.steps.every(plainlyFine)) continue;
    const parser = await loadParser();
    const parsed = [];
    for (const step of r.steps) parsed.push((await parser.statements(step)) ?? []);
    if (r.steps.length === 0 || parsed.every((s) => s.length === 0)) {
      problems.push({
        name: r.file.name,
        kind: 'empty',
        message: `${rel(r.file.path)} runs no SQL statement, so it would be recorded as applied without doing anything. Add its changes or delete the file.`,
      });
      continue;
    }
    const found = transactionControl(parsed, r.transaction);
    if (found) {
      const { text } = locate(r.steps[found.step]!, found.stmt, 1);
      problems.push(txProblem(r.file, `${rel(r.file.path)} (in the SQL it renders)`, text, found.why));
    }
  }
  return { problems, warnings };
}

// --- folder hygiene ------------------------------------------------------------------------------------

/** `0009_x.SQL`, `0009_x.Ts`, `0009_x.sql.txt`, `0009_x.sql~`: named like a migration, skipped by the loader. */
const LOOKALIKE = /^(\d[^.]*(?:\.(?:up|down))?)\.(sql|[cm]?[jt]s)(\.[^.]+|~)?$/i;

function skippedLookalikes(
  dir: string,
  files: MigrationFile[],
  applied: ReadonlySet<string>,
  report: (isApplied: boolean, p: Problem) => void,
): void {
  const names = new Set(files.map((f) => f.name));
  const listed = new Set(files.flatMap((f) => f.files.map((p) => p.slice(p.lastIndexOf('/') + 1))));
  for (const entry of readdirSync(resolve(dir), { withFileTypes: true })) {
    if (entry.isDirectory() || listed.has(entry.name) || entry.name.startsWith('.')) continue;
    const m = LOOKALIKE.exec(entry.name);
    if (!m || /\.map$/i.test(entry.name)) continue; // source maps beside compiled .js migrations are fine
    if (MIGRATION_EXTENSIONS.includes(`.${m[2]}`) && !m[3]) continue; // a real migration name
    const base = migrationName(`${m[1]}.sql`);
    const suggestion = `${m[1]}.${m[2]!.toLowerCase()}`;
    // A backup beside a migration of the same name (0001_x.sql.bak next to 0001_x.sql) is only a warning.
    const isKnown = names.has(base) || applied.has(base);
    report(isKnown, {
      name: entry.name,
      kind: 'skipped-file',
      message: `${rel(join(dir, entry.name))} looks like a migration but would be skipped (only lower-case .sql, .ts, .mts, .cts, .js, .mjs and .cjs files are migrations). Rename it to ${suggestion}, or move it out of the folder.`,
    });
  }
}

function duplicateNumbers(files: MigrationFile[], applied: ReadonlySet<string>, problems: Problem[], warnings: Problem[]): void {
  const byNumber = new Map<bigint, MigrationFile[]>();
  for (const f of files) {
    const digits = /^\d+/.exec(f.name)?.[0];
    if (!digits) continue;
    const n = BigInt(digits);
    byNumber.set(n, [...(byNumber.get(n) ?? []), f]);
  }
  for (const group of byNumber.values()) {
    if (group.length < 2) continue;
    const list = group.map((f) => rel(f.path)).join(', ');
    const number = [...new Set(group.map((f) => /^\d+/.exec(f.name)![0]))].join(' = ');
    const pending = group.filter((f) => !applied.has(f.name));
    if (pending.length === 0) {
      warnings.push({
        name: group[0]!.name,
        kind: 'duplicate-number',
        message: `${list} share the number ${number}. (Already applied, so this is only a warning.)`,
      });
      continue;
    }
    // All new: keep the first (in run order) and renumber the others; otherwise renumber the new ones.
    const renumber = pending.length === group.length ? group.slice(1) : pending;
    problems.push({
      name: renumber[0]!.name,
      kind: 'duplicate-number',
      message: `${list} share the number ${number}: their order would depend on the rest of the name. Give ${renumber.map((f) => rel(f.path)).join(', ')} the next free number.`,
    });
  }
}

// --- transaction control ----------------------------------------------------------------------------------

interface Stmt {
  kind: string;
  /** TransactionStmt kind (TRANS_STMT_BEGIN, ...) when this is a transaction control statement. */
  tx?: string;
  chain?: boolean;
  /** Byte offset and length in the parsed string. */
  location: number;
  length?: number;
}

const TX_NAMES: Record<string, string> = {
  TRANS_STMT_BEGIN: 'BEGIN',
  TRANS_STMT_START: 'START TRANSACTION',
  TRANS_STMT_COMMIT: 'COMMIT',
  TRANS_STMT_ROLLBACK: 'ROLLBACK',
  TRANS_STMT_SAVEPOINT: 'SAVEPOINT',
  TRANS_STMT_RELEASE: 'RELEASE SAVEPOINT',
  TRANS_STMT_ROLLBACK_TO: 'ROLLBACK TO SAVEPOINT',
  TRANS_STMT_PREPARE: 'PREPARE TRANSACTION',
  TRANS_STMT_COMMIT_PREPARED: 'COMMIT PREPARED',
  TRANS_STMT_ROLLBACK_PREPARED: 'ROLLBACK PREPARED',
};

/**
 * The first transaction control statement that is not allowed, with why.
 *
 * In a transactional migration none is: the engine's transaction is the migration's, and a COMMIT in it
 * would make its first half permanent whatever happens to the rest. A migration that opted out
 * (`-- migrator:no-transaction`, `pgm.noTransaction()`) runs in autocommit and may group statements in
 * explicit blocks, BEGIN ... COMMIT/ROLLBACK, balanced; a COMMIT/ROLLBACK/SAVEPOINT outside a block, a
 * block left open (the engine's bookkeeping would end up inside it) and two-phase commit are refused.
 */
function transactionControl(steps: Stmt[][], transactional: boolean): { step: number; stmt: Stmt; why: string } | null {
  let open: { step: number; stmt: Stmt } | null = null;
  for (const [step, stmts] of steps.entries()) {
    for (const stmt of stmts) {
      if (!stmt.tx) continue;
      const name = TX_NAMES[stmt.tx] ?? stmt.tx;
      if (transactional) {
        return {
          step, stmt,
          why: `${name} at the top level of a migration that runs in a transaction: the migration is one transaction already, and ${name} would end or split it, so a later failure could no longer undo what came before. Remove it, or split the migration in two`,
        };
      }
      if (['TRANS_STMT_PREPARE', 'TRANS_STMT_COMMIT_PREPARED', 'TRANS_STMT_ROLLBACK_PREPARED'].includes(stmt.tx)) {
        return { step, stmt, why: `${name} (two-phase commit) is not allowed in a migration. Remove it` };
      }
      if (stmt.tx === 'TRANS_STMT_BEGIN' || stmt.tx === 'TRANS_STMT_START') {
        if (open) return { step, stmt, why: `${name} while a transaction this migration opened is still open. Close it with COMMIT first` };
        open = { step, stmt };
      } else if (!open) {
        return {
          step, stmt,
          why: `${name} outside a BEGIN ... COMMIT block this migration opened (it runs without a transaction, marked no-transaction). Remove it, or open the block with BEGIN`,
        };
      } else if (stmt.tx === 'TRANS_STMT_COMMIT' || stmt.tx === 'TRANS_STMT_ROLLBACK') {
        if (!stmt.chain) open = null;
      }
    }
  }
  if (open) {
    return {
      ...open,
      why: `${TX_NAMES[open.stmt.tx!]} without a matching COMMIT: the migration would end inside its own transaction and the engine's record of it would be part of that transaction. Add the COMMIT`,
    };
  }
  return null;
}

function txProblem(file: MigrationFile, where: string, text: string, why: string): Problem {
  return { name: file.name, kind: 'transaction-control', message: `${where}: "${text}": ${why}.` };
}

/** Line (1-based, counting from `firstLine`) and one-line text of a statement located by byte offset. */
function locate(sql: string, stmt: Stmt, firstLine: number): { line: number; text: string } {
  const bytes = Buffer.from(sql, 'utf8');
  let begin = stmt.location;
  // A statement's location includes the whitespace and comments before it; skip them for the line number.
  const raw = bytes.subarray(begin, stmt.length ? begin + stmt.length : bytes.length).toString('utf8');
  const lead = raw.length - raw.replace(/^(\s+|--[^\n]*\n?|\/\*[\s\S]*?\*\/)+/, '').length;
  begin += Buffer.byteLength(raw.slice(0, lead));
  const before = bytes.subarray(0, begin).toString('utf8');
  return { line: firstLine + before.split('\n').length - 1, text: oneLine(raw.slice(lead), 80) };
}

// --- the parser ------------------------------------------------------------------------------------------

/**
 * Every transaction control statement starts with one of these words (PostgreSQL's grammar:
 * TransactionStmt and its legacy BEGIN/END forms). Matched anywhere, in code, strings and comments alike.
 */
const TX_WORD = /\b(?:abort|begin|commit|end|prepare|release|rollback|savepoint|start)\b/i;

/**
 * True when `sql` certainly holds a statement and no transaction control, decided without the parser:
 * none of the words a transaction control statement starts with occurs anywhere in it, and something
 * other than whitespace, comments and semicolons comes first. Anything else goes to the parser, which
 * is then loaded (most folders never need it: ~100 ms of WebAssembly load and warm-up saved per run).
 */
export function plainlyFine(sql: string): boolean {
  if (TX_WORD.test(sql)) return false;
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    if (c === ';' || /\s/.test(c)) i++;
    else if (sql.startsWith('--', i)) {
      const nl = sql.indexOf('\n', i);
      if (nl < 0) return false;
      i = nl + 1;
    } else if (sql.startsWith('/*', i)) {
      // Block comments nest in PostgreSQL.
      let depth = 0;
      do {
        if (sql.startsWith('/*', i)) (depth++, (i += 2));
        else if (sql.startsWith('*/', i)) (depth--, (i += 2));
        else i++;
      } while (depth > 0 && i < sql.length);
      if (depth > 0) return false;
    } else return true;
  }
  return false;
}

interface Parser {
  /** Top-level statements of `sql`, or null when PostgreSQL's grammar rejects it. */
  statements(sql: string): Promise<Stmt[] | null>;
}

interface RawStmt {
  stmt?: Record<string, { kind?: string; chain?: boolean }>;
  stmt_location?: number;
  stmt_len?: number;
}

let parser: Promise<Parser> | undefined;

/** libpg-query (PostgreSQL's parser compiled to WebAssembly), imported on first use only. */
function loadParser(): Promise<Parser> {
  parser ??= import('libpg-query').then(async (pgQuery) => {
    await pgQuery.loadModule();
    return {
      async statements(sql: string) {
        if (!sql.trim()) return [];
        let result: { stmts?: RawStmt[] };
        try {
          result = (await pgQuery.parse(sql)) as { stmts?: RawStmt[] };
        } catch {
          // A syntax error: PostgreSQL parses the whole query string before running any of it, so nothing
          // of this migration would run; its error (with position) is the better message. Not our call.
          return null;
        }
        return (result.stmts ?? []).map((s) => {
          const [kind = '?', node] = Object.entries(s.stmt ?? {})[0] ?? [];
          return {
            kind,
            tx: kind === 'TransactionStmt' ? (node?.kind ?? 'TRANS_STMT_BEGIN') : undefined,
            chain: node?.chain,
            location: s.stmt_location ?? 0,
            length: s.stmt_len,
          };
        });
      },
    };
  });
  return parser;
}
