/** Options and results shared by the engine's operations. */
import type pg from 'pg';
import type { ConnectOptions } from '../db.ts';
import type { Problem } from '../errors.ts';
import type { MigrationFile } from './files.ts';

export type { Problem };

/** Where migrations go: a database, a migrations folder and a migrations table. Several targets may share a database. */
export interface MigrationTarget {
  /** Connection string; or pass `client` instead. */
  databaseUrl?: string;
  /** An already connected client; the engine uses it and does not close it. */
  client?: pg.Client;
  /** Migrations directory. */
  dir: string;
  /** node-pg-migrate's table; default 'pgmigrations'. Checksums live in `<table>_checksums` beside it. */
  migrationsTable?: string;
  /** Schema of the migrations table; default 'public'. */
  migrationsSchema?: string;
  /** Connect timeout and retries when `databaseUrl` is used. */
  connect?: ConnectOptions;
  /**
   * Run-history table (`schema.table`), created by the engine at the first recorded run; several targets
   * may share one. Default `public.migration_runs`.
   */
  runsTable?: string;
}

/** Deadlines, so no run hangs (a custom resource must answer well inside Lambda's 15 minutes). */
export interface SafetyOptions {
  /** How long to wait for another run's migration lock before failing. Default 60 000 ms. */
  lockWaitTimeoutMs?: number;
  /** `lock_timeout` for migration statements (waiting for table locks). Default 10 000 ms. */
  lockTimeoutMs?: number;
  /** `statement_timeout` for migration statements. Default 600 000 ms (10 min). */
  statementTimeoutMs?: number;
  /**
   * While the migration lock is held: the migration session's `idle_in_transaction_session_timeout`, and
   * the lock's lease: the lock session is renewed by a
   * heartbeat every third of this and ends after `statementTimeoutMs + 2 × idleTimeoutMs` without one. A
   * runner that stops answering (frozen, suspended, cut off) loses its sessions and the lock within that.
   * 0, or a `statementTimeoutMs` of 0, turns the lease off. Default 60 000 ms.
   */
  idleTimeoutMs?: number;
  /** Receives progress lines (which migration runs). Default: silent. */
  log?: (line: string) => void;
  /**
   * Called once files and database were checked, before the first write: a refused run writes nothing,
   * so the run history opens its row here.
   */
  onValidated?: (checked: { files: MigrationFile[] }) => Promise<void>;
  /** Called as each migration is applied or reverted (in its transaction, before its commit), with its duration. */
  onMigration?: (event: MigrationEvent) => void;
}

/** One migration applied or reverted, for progress lines and `up --json`. */
export interface MigrationEvent {
  name: string;
  direction: 'up' | 'down';
  durationMs: number;
}

export const DEFAULT_SAFETY = {
  lockWaitTimeoutMs: 60_000,
  lockTimeoutMs: 10_000,
  statementTimeoutMs: 600_000,
  idleTimeoutMs: 60_000,
} as const;

/**
 * How long the migration lock outlives a runner that stopped answering: its session's longest statement
 * plus two idle timeouts. Longer than the migration session can survive it (a statement ends within the
 * statement timeout, then the idle timeout ends the session), so the next run never overlaps its transaction.
 * 0 (no lease: the lock session waits for its runner however long it is gone) when the idle timeout is 0,
 * or when the statement timeout is 0: the lease is only safe while every statement is bounded (a frozen
 * runner's unbounded statement would go on after its lock had lapsed, beside the next run).
 */
export function lockLeaseMs(statementTimeoutMs: number, idleTimeoutMs: number): number {
  if (statementTimeoutMs === 0 || idleTimeoutMs === 0) return 0;
  return Math.min(2_147_483_647, statementTimeoutMs + 2 * idleTimeoutMs);
}

export interface UpOptions extends SafetyOptions {
  /** Apply pending migrations up to and including this name; default all. */
  to?: string;
  /** Recorded with each applied migration (the run-history id); default a new UUID. */
  runId?: string;
}
export interface UpResult {
  /** Names applied by this call, in order. */
  applied: string[];
  /** The last applied migration after this call (null: none). */
  lastMigration: string | null;
  runId: string;
  /** Folder problems of already applied migrations (never blocking; see folder-check.ts), and file names that do not sort as their numbers read. */
  warnings?: Problem[];
}

export interface DownOptions extends SafetyOptions {
  /** Revert this many of the most recently applied migrations (default 1 when `to` is not given). */
  count?: number;
  /** Revert every migration applied after this one (it stays applied). */
  to?: string;
}
export interface DownResult {
  /** Names reverted, most recent first. */
  reverted: string[];
  lastMigration: string | null;
}

export interface AppliedMigration {
  name: string;
  /** SHA-256 recorded when applied (null: applied by plain node-pg-migrate, not yet recorded). */
  checksum: string | null;
  /** ISO 8601. */
  appliedAt: string;
}
export interface StatusResult {
  applied: AppliedMigration[];
  pending: { name: string }[];
  problems: Problem[];
  /** File names whose run order is not what their numbers suggest (never blocking). */
  warnings: Problem[];
}

export interface HistoryEntry extends AppliedMigration {
  /** Run that applied it (null: before checksums were recorded). */
  runId: string | null;
  /** How it became applied: applied, baseline, adopted (found applied without checksum), repair. */
  source: string | null;
}

export interface PlannedMigration {
  name: string;
  file: string;
  /** Whether it runs in its own transaction (false: it opted out). */
  transaction: boolean;
  /**
   * Marked long-running (`-- migrator:long-running`, `export const longRunning = true`): a fleet runs its
   * target in CodeBuild instead of a Lambda invocation (see long-running.ts).
   */
  longRunning: boolean;
  /** The SQL the migration would run, statements separated by newlines. */
  sql: string;
}
export interface PlanResult {
  pending: PlannedMigration[];
  /** Folder problems of already applied migrations (never blocking), and file names that do not sort as their numbers read. */
  warnings?: Problem[];
}
