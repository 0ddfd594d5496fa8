/**
 * The migration engine's public operations: node-pg-migrate's `runner` does the applying (runner.ts);
 * around it this adds checksums, validation, a waiting run lock with deadlines, precise errors, and
 * read-only status/history/plan.
 */
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import type pg from 'pg';
import { MigratorError, type Problem } from '../errors.ts';
import { listMigrations, type MigrationFile } from './files.ts';
import { namingWarnings } from './naming.ts';
import { withClient, withLock } from './session.ts';
import { ensureTables, findProblems, readState, recordChecksum, rel, tablesOf } from './state.ts';
import { adoptUnrecorded, unrecorded } from './adopt.ts';
import { renderUp } from './render.ts';
import { run } from './runner.ts';
import { last, pendingOf, resolveName, upTo } from './selection.ts';
import { checkedState, checkFolderFor, validatedState } from './validation.ts';
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
