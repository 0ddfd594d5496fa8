/**
 * Errors the migration core throws on purpose. Each has a one-paragraph `.message` that a person can act on
 * (the CLI prints it, the custom resource puts it in its Reason), and typed fields for code that wants details.
 */
import { describeLoss, isConnectionLoss } from './connection-loss.ts';
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
    // A lost session is not the migration's fault: say so, and what PostgreSQL does with its transaction.
    const lost = isConnectionLoss(options?.cause);
    const state = d.sqlstate && !lost ? ` (SQLSTATE ${d.sqlstate})` : '';
    const what = lost ? `the database connection was lost (${describeLoss(options?.cause)})` : redact(d.pgMessage);
    const rolled = !d.transactional
      ? 'It ran outside a transaction (it opted out), so statements before the failing one may have taken effect.'
      : lost
        ? 'PostgreSQL rolls back the open transaction of a session that ends, so none of its changes remain (had the loss come during its COMMIT, `migrator status` shows whether it was applied).'
        : 'Its transaction was rolled back, so none of its changes remain.';
    const before = d.appliedBefore.length
      ? ` Applied before it in this run and kept: ${d.appliedBefore.join(', ')}.`
      : '';
    super(`Migration ${d.migration} (${d.file}) failed: ${what}${state}${where}. ${rolled}${before}${hintFor(d)}`, options);
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

/**
 * The database session was lost (server restart or failover, terminated backend, cut network, a session
 * the server ended): names the database, the step that was running and what that means for the data.
 */
export class ConnectionLostError extends MigratorError {
  override name = 'ConnectionLostError';
  constructor(
    readonly details: {
      /** host:port/database (never the password). */
      where?: string;
      /** What was running, e.g. "the seed step", "`migrator status`". */
      step: string;
      /** What was written or rolled back, one or two sentences. */
      consequence: string;
    },
    options: { cause: unknown },
  ) {
    super(
      `The database connection${details.where ? ` to ${details.where}` : ''} was lost during ${details.step}: ${describeLoss(options.cause)}. ` +
        `${details.consequence} Run it again once the database answers.`,
      options,
    );
  }
}

/** What a lost seed means: it is one transaction. */
export const SEED_LOST =
  'The seed runs in one transaction, which PostgreSQL rolls back when its session ends, so nothing of the seed was written; ' +
  'migrations committed before it in this run stay.';

/**
 * The migration lock's session ended while the run held it (the runner stopped answering for longer than the
 * lock's lease: frozen, suspended, cut off; or someone ran `migrator unlock`). The run stops instead of going
 * on unlocked.
 */
export class LockLostError extends MigratorError {
  override name = 'LockLostError';
  constructor(readonly table: string, readonly leaseMs: number, options: { cause: unknown; lockCause: unknown }) {
    const during = options.cause instanceof Error ? ` It was doing: ${oneLine(options.cause.message, 400)}` : '';
    super(
      `Lost the migration lock of ${table}: its lock session ended (${describeLoss(options.lockCause)}). ` +
        `This runner did not answer the database within the lock's lease (${leaseMs} ms: the statement timeout + 2 × the idle timeout) — ` +
        'it was frozen (SIGSTOP, a suspended machine) or cut off from the database — or the lock was ended with `migrator unlock`. ' +
        'The server ended its sessions and rolled back the migration in progress; migrations committed before stay. ' +
        `The run stopped instead of going on without the lock; run it again.${during}`,
      { cause: options.cause },
    );
  }
}

/** Squeeze a SQL text to one line of at most `max` characters for messages. */
export function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
