/**
 * Errors the migration core throws on purpose. Each has a one-paragraph `.message` that a person can act on
 * (the CLI prints it, the custom resource puts it in its Reason), and typed fields for code that wants details.
 */
import { redact } from './redact.ts';

/** Base class: an expected, explained failure (the CLI prints only the message, no stack). */
export class MigratorError extends Error {
  override name = 'MigratorError';
}

/**
 * A problem found by validation. Between folder and database: an applied migration edited or deleted, a
 * new one sorting before applied ones. In the folder itself (see migrate/folder-check.ts): a SQL file with
 * a Down section and no Up section, transaction control in a migration, two migrations with one number,
 * an empty migration, a file that looks like a migration but would be skipped, text that is not UTF-8,
 * no migrations at all.
 */
export interface Problem {
  /** Migration name (file name without extension), or the file name for files that are not migrations. */
  name: string;
  kind:
    | 'edited' | 'deleted' | 'out-of-order'
    | 'down-only' | 'transaction-control' | 'duplicate-number' | 'empty' | 'skipped-file' | 'not-utf8' | 'no-migrations'
    | 'number-width';
  message: string;
}

/** Which command refused: `up` (and `down`, `baseline`) refuse to migrate; `validate` and `plan` only report. */
export type ValidationCommand = 'up' | 'validate' | 'plan';

/** The migrations folder is wrong, or disagrees with what the database says was applied; nothing was changed. */
export class ValidationError extends MigratorError {
  override name = 'ValidationError';
  constructor(readonly problems: Problem[], readonly command: ValidationCommand = 'up') {
    const folderOnly = problems.every((p) => !['edited', 'deleted', 'out-of-order'].includes(p.kind));
    const head = command === 'up' ? `Refusing to migrate: ${problems.length} problem(s)` : `${problems.length} problem(s) found`;
    const between = folderOnly ? 'in the migrations folder' : 'between the migration files and the database';
    const advice = folderOnly
      ? ' Fix the files named above.'
      : ' Restore the files, or after deciding the current files are right run `migrator repair`.';
    super(`${head} ${between}: ${problems.map((p) => p.message).join(' ')} Nothing was changed.${advice}`);
  }
}

/** A migration failed. Unless it opted out of its transaction, none of its changes remain. */
export class MigrationError extends MigratorError {
  override name = 'MigrationError';
  constructor(
    readonly details: {
      /** Migration name. */
      migration: string;
      /** Path of the migration source file. */
      file: string;
      /** The SQL statement that failed, when the failure came from PostgreSQL. */
      statement?: string;
      /** PostgreSQL's SQLSTATE code (e.g. 55P03 for lock_timeout). */
      sqlstate?: string;
      /** PostgreSQL's (or the migration code's) error message. */
      pgMessage: string;
      /** Whether the migration ran inside a transaction (so nothing of it remains). */
      transactional: boolean;
      /** Migrations of this run that were applied before the failure (they stay applied). */
      appliedBefore: string[];
    },
    options?: { cause?: unknown },
  ) {
    const d = details;
    const where = d.statement ? ` while running: ${redact(oneLine(d.statement, 300))}` : '';
    const state = d.sqlstate ? ` (SQLSTATE ${d.sqlstate})` : '';
    const rolled = d.transactional
      ? 'Its transaction was rolled back, so none of its changes remain.'
      : 'It ran outside a transaction (it opted out), so statements before the failing one may have taken effect.';
    const before = d.appliedBefore.length
      ? ` Applied before it in this run and kept: ${d.appliedBefore.join(', ')}.`
      : '';
    super(`Migration ${d.migration} (${d.file}) failed: ${redact(d.pgMessage)}${state}${where}. ${rolled}${before}${hintFor(d)}`, options);
  }
  get file() { return this.details.file; }
  get statement() { return this.details.statement; }
  get sqlstate() { return this.details.sqlstate; }
  get pgMessage() { return this.details.pgMessage; }
}

/** What to do about failures with a known fix. */
function hintFor(d: { sqlstate?: string; file: string }): string {
  // 25001 active_sql_transaction: CREATE INDEX CONCURRENTLY, VACUUM, ALTER TYPE ... ADD VALUE (PG < 12), ...
  if (d.sqlstate === '25001') {
    return d.file.endsWith('.sql')
      ? ' This statement cannot run inside a transaction: add a line `-- migrator:no-transaction` to the migration (keep it to that one statement, so a failure leaves nothing half-done).'
      : ' This statement cannot run inside a transaction: call pgm.noTransaction() in the migration (keep it to that one statement, so a failure leaves nothing half-done).';
  }
  return '';
}

/** Another run held the migration lock for longer than the configured wait. */
export class LockWaitTimeoutError extends MigratorError {
  override name = 'LockWaitTimeoutError';
  constructor(readonly table: string, readonly waitedMs: number, readonly holder?: string) {
    super(
      `Another migration run is holding the lock for ${table} and did not finish within ${waitedMs} ms` +
        (holder ? ` (held by ${holder})` : '') +
        '. Nothing was changed. Wait for it to finish (see `migrator runs`) and retry, or raise --lock-wait-timeout; ' +
        'a holder left behind by a dead run can be ended with `migrator unlock --yes`.',
    );
  }
}

/** Squeeze a SQL text to one line of at most `max` characters for messages. */
export function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
