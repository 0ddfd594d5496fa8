/** The migration engine's public API (see engine.ts, render.ts, lint.ts, create.ts). */
export { up, down, status, history, plan, validate, repair, baseline, type RepairChange } from './engine.ts';
export { renderUp } from './render.ts';
export { create, type CreateOptions } from './create.ts';
export { lint, type LintFinding, type LintResult, type LintOptions } from './lint.ts';
export { listMigrations, NO_TRANSACTION_MARKER, type MigrationFile } from './files.ts';
export { LONG_RUNNING_MARKER, isLongRunning, longRunningNames, pendingLongRunning } from './long-running.ts';
export * from './types.ts';
export { MigrationError, MigratorError, ValidationError, LockWaitTimeoutError } from '../errors.ts';
/** What a TypeScript migration's `up(pgm)` / `down(pgm)` receive (node-pg-migrate's builder). */
export type { MigrationBuilder } from 'node-pg-migrate';
