/**
 * The migration commands of the `migrator` CLI: up, down, status, history, plan, validate, repair,
 * baseline, create, lint. Also the shared pieces other command modules use: the output sink and how the
 * global options become a MigrationTarget and SafetyOptions.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { MigratorError, ValidationError } from '../../functions/core/errors.ts';
import { protectedByName } from '../../functions/core/protected-stage.ts';
import { ProtectedStageError } from '../../functions/core/seed/errors.ts';
import { activity } from './activity.ts';
import type { ConnectOptions } from '../../functions/core/db.ts';
import type { MigrationEvent, MigrationTarget, SafetyOptions } from '../../functions/core/migrate/types.ts';
import type { RunFields, RunStart } from '../../functions/core/run-history.ts';
import { localActor } from './actor.ts';

// Startup stays cheap: commands register with commander only; the engine (pg, node-pg-migrate), create,
// lint and the seed stages (yaml, zod) load inside the action that needs them.
const engine = () => import('../../functions/core/migrate/engine.ts');

/** Where commands print: stdout for results, stderr for progress and errors. Tests capture both. */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  /** Ask the person at the terminal; absent when stdin is not a TTY (scripts, CI, tests). */
  ask?(question: string): Promise<string>;
}

/** Global options, available to every command through `command.optsWithGlobals()`. */
export interface GlobalOptions {
  databaseUrl?: string;
  dir: string;
  migrationsTable: string;
  migrationsSchema: string;
  runsTable: string;
  lockWaitTimeout: number;
  lockTimeout: number;
  statementTimeout: number;
  connectTimeout: number;
  connectRetries: number;
  verbose?: boolean;
  /** No progress lines on stderr (errors, warnings and retry lines still print). */
  quiet?: boolean;
}

/** Thrown by a command that already printed its result, to end with a non-zero exit code and no message. */
export class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** Parse a non-negative integer option (commander turns the thrown error into a usage error, exit 2). */
export function integer(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number >= 0.');
  return Number(value);
}

/** The largest timeout Node's timers and PostgreSQL's settings take: 2^31-1 ms (about 24.8 days). */
export const MAX_TIMEOUT_MS = 2_147_483_647;

/** Parse a timeout in milliseconds (0 ..= 2^31-1); anything else is a usage error naming the option. */
export function milliseconds(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number of milliseconds >= 0.');
  const n = Number(value);
  if (n > MAX_TIMEOUT_MS) throw new InvalidArgumentError(`at most ${MAX_TIMEOUT_MS} ms (about 24.8 days).`);
  return n;
}

/** Add the global options to the root program. */
export function addGlobalOptions(program: Command): void {
  program
    .addOption(new Option('--database-url <url>', 'PostgreSQL connection string').env('DATABASE_URL'))
    .option('--dir <path>', 'migrations folder', 'migrations')
    .option('--migrations-table <name>', "node-pg-migrate's table (checksums go to <name>_checksums)", 'pgmigrations')
    .option('--migrations-schema <name>', 'schema of the migrations table', 'public')
    .option('--runs-table <schema.table>', 'run-history table (created by the first state-changing command)', 'public.migration_runs')
    .option('--lock-wait-timeout <ms>', "how long to wait for another run's migration lock", milliseconds, 60_000)
    .option('--lock-timeout <ms>', 'lock_timeout for migration statements', milliseconds, 10_000)
    .option('--statement-timeout <ms>', 'statement_timeout for migration statements', milliseconds, 600_000)
    .option('--connect-timeout <ms>', 'timeout of one connection attempt', milliseconds, 10_000)
    .option('--connect-retries <n>', 'connection retries (exponential backoff) for a waking database; each retry prints a line', integer, 5)
    .option('--verbose', "node-pg-migrate's own log lines, and stack traces with errors")
    .option('-q, --quiet', 'no progress lines on stderr (one per migration by default; errors and warnings still print)');
}

/** The connect options the global options describe; with `io`, one stderr line per retry. */
export function connectFrom(opts: GlobalOptions, io?: CliIO): ConnectOptions {
  return {
    connectTimeoutMs: opts.connectTimeout,
    retries: opts.connectRetries,
    onRetry: io
      ? ({ attempt, attempts, cause, delayMs, where }) =>
          io.err(`Connecting to ${where}: attempt ${attempt} of ${attempts} failed (${cause}); next attempt in ${(delayMs / 1000).toFixed(1)} s.\n`)
      : undefined,
  };
}

/** The target the global options describe (retry lines go to `io` when given). */
export function targetFrom(opts: GlobalOptions, io?: CliIO): MigrationTarget {
  return {
    databaseUrl: opts.databaseUrl,
    dir: opts.dir,
    migrationsTable: opts.migrationsTable,
    migrationsSchema: opts.migrationsSchema,
    runsTable: opts.runsTable,
    connect: connectFrom(opts, io),
  };
}

/** The deadlines the global options describe (progress goes to stderr with --verbose). */
export function safetyFrom(opts: GlobalOptions, io: CliIO, events?: MigrationEvent[]): SafetyOptions {
  return {
    lockWaitTimeoutMs: opts.lockWaitTimeout,
    lockTimeoutMs: opts.lockTimeout,
    statementTimeoutMs: opts.statementTimeout,
    log: (line) => {
      activity.last = line; // named by the interrupt line if a signal ends the run
      // "applied X" / "reverted X" are the progress lines below (with their time).
      if (opts.verbose && !/^(applied|reverted) /.test(line)) io.err(`${line}\n`);
    },
    // One progress line per migration on stderr, terminal or not (CI logs show what ran and how long).
    onMigration: (e) => {
      events?.push(e);
      if (!opts.quiet) io.err(`${e.direction === 'up' ? 'applied' : 'reverted'} ${e.name} (${formatMs(e.durationMs)})\n`);
    },
  };
}

/** 850 ms, 12.3 s, 4 min 05 s. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

/** Stage recorded in run rows of commands that have no --stage option. */
const localStage = () => process.env.MIGRATOR_STAGE || 'local';

/**
 * Run a state-changing engine operation as one recorded run (trigger local, the user as actor) on one
 * connection, shared by the operation and its run row (whose backend pid marks the run as alive).
 */
async function recorded<T>(
  opts: GlobalOptions,
  io: CliIO,
  start: Omit<RunStart, 'trigger' | 'actor'>,
  fn: (target: MigrationTarget & { client: import('pg').Client }, runId: string) => Promise<{ result: T; fields?: RunFields }>,
): Promise<T> {
  const [{ withClient }, { recordRun }] = await Promise.all([
    import('../../functions/core/migrate/session.ts'),
    import('../../functions/core/run-history.ts'),
  ]);
  const target = targetFrom(opts, io);
  return withClient(target, async (client) => {
    const t = { ...target, client };
    const { result } = await recordRun(client, { ...start, trigger: 'local', actor: localActor(), runsTable: target.runsTable, target: t }, (runId) => fn(t, runId));
    return result;
  });
}

/** Folder warnings (problems of already applied migrations) on stderr, one line each. */
function printWarnings(io: CliIO, warnings: { message: string }[] | undefined): void {
  for (const w of warnings ?? []) io.err(`warning: ${w.message}\n`);
}

/**
 * The --json documents of the commands that print one (stdout holds only that document; progress lines
 * and errors stay on stderr). The README's CLI section lists the same shapes.
 */
export const JSON_SHAPES = {
  up: '{"applied":[{"name","durationMs"}],"lastMigration","runId","warnings":[{"name","kind","message"}]}',
  down: '{"reverted":[{"name","durationMs"}],"lastMigration"}',
  validate: '{"ok","problems":[{"name","kind","message"}],"warnings":[{"name","kind","message"}]}',
  repair: '{"changes":[{"name","action"}],"written"}',
  baseline: '{"marked":["name"],"written"}',
  create: '{"file"}',
  dev: '{"runId","applied":[{"name","durationMs"}],"lastMigration","seed","rowCounts":{"table":n},"durationMs"}',
} as const;

/** A command's --json output: indented, one trailing newline. */
export const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

const CONFIRM_HELP = `
Without --yes the changes are listed first; on a terminal you are asked to confirm, otherwise nothing is
changed and the command exits 1 (run it again with --yes).`;

const REPAIR_ACTIONS: Record<string, string> = {
  'checksum-updated': "accept the edited file's current checksum",
  'checksum-recorded': 'record the checksum of a migration applied without one',
  'deleted-row-removed': 'forget a migration whose file is gone; its schema changes stay',
  'out-of-order-allowed': 'allow a migration that sorts before applied ones',
};

/**
 * The confirmation of repair/baseline: --yes accepts; otherwise the changes are printed, and on a terminal
 * the user is asked (the command holds its lock and open transaction meanwhile), else they are declined.
 */
async function confirm(io: CliIO, opts: { yes?: boolean; json?: boolean }, command: string, lines: string[]): Promise<boolean> {
  if (opts.yes) return true;
  // With --json, stdout is the JSON document only: the list goes to stderr.
  (opts.json ? io.err : io.out)(`${command} would make ${lines.length} change(s) (nothing written yet):\n${lines.map((l) => `  ${l}\n`).join('')}`);
  if (!io.ask) return false;
  return /^\s*y(es)?\s*$/i.test(await io.ask(`Apply these ${lines.length} change(s)? [y/N] `));
}

/** repair/baseline listed their changes but were not confirmed: nothing was written (exit 1). */
export class NotConfirmedError extends MigratorError {
  override name = 'NotConfirmedError';
  constructor(command: string, count: number, declined: boolean) {
    super(
      declined
        ? `Nothing was changed: the ${count} change(s) above were declined.`
        : `Nothing was changed: \`migrator ${command}\` changes the migration history, so it asks first; this is not a terminal. ` +
            `Check the ${count} change(s) above, then run it again with --yes.`,
    );
  }
}

/** Register the migration commands on `program`. */
export function registerMigrateCommands(program: Command, io: CliIO): void {
  const g = (cmd: Command) => cmd.optsWithGlobals<GlobalOptions>();

  program
    .command('up')
    .description('Validate, then apply pending migrations (each in its own transaction), serialized by an advisory lock.')
    .option('--to <name>', 'apply up to and including this migration')
    .addHelpText('after', '\nRefuses (exit 1, nothing changed) when an applied migration was edited or deleted, a new one sorts before applied ones,\n' +
      'or a pending one is wrong: Down section without Up, COMMIT/BEGIN/ROLLBACK at its top level, a duplicate number, no statements,\n' +
      'not UTF-8, a skipped look-alike file (0009_x.SQL), a symlink out of the folder. The same checks as validate and plan.')
    .option('--json', `print ${JSON_SHAPES.up}`)
    .action(async (opts: { to?: string; json?: boolean }, cmd: Command) => {
      const o = g(cmd);
      const { runJob } = await import('../../functions/core/job.ts');
      const events: MigrationEvent[] = [];
      const result = await runJob({
        target: targetFrom(o, io),
        trigger: 'local',
        stage: localStage(),
        actor: localActor(),
        command: opts.to ? `up --to ${opts.to}` : 'up',
        to: opts.to,
        ...safetyFrom(o, io, events),
      });
      // Warnings go to stderr always; with --verbose the engine's progress log printed them already.
      if (!o.verbose) printWarnings(io, result.warnings);
      if (opts.json) {
        return io.out(json({
          applied: events.map(({ name, durationMs }) => ({ name, durationMs })),
          lastMigration: result.lastMigration,
          runId: result.runId,
          warnings: (result.warnings ?? []).map(({ name, kind, message }) => ({ name, kind, message })),
        }));
      }
      io.out(result.applied.length
        ? `Applied ${result.applied.length} migration(s): ${result.applied.join(', ')}\n`
        : `Nothing to apply: up to date${result.lastMigration ? ` (last: ${result.lastMigration})` : ''}.\n`);
    });

  program
    .command('down')
    .description('Revert the most recent migrations (by count, or all after a named one). For humans; deploys never run down.')
    .option('--count <n>', 'revert this many migrations', integer)
    .option('--to <name>', 'revert every migration applied after this one (it stays applied)')
    .addOption(new Option('--stage <name>', 'stage of the database; a protected stage (prod) refuses down').env('MIGRATOR_STAGE').default('local'))
    .option('--seeds-dir <path>', 'folder with stages.yaml (which stages are protected)', 'seeds')
    .option('--json', `print ${JSON_SHAPES.down}`)
    .action(async (opts: { count?: number; to?: string; stage: string; seedsDir: string; json?: boolean }, cmd: Command) => {
      if ((opts.count === undefined) === (opts.to === undefined)) cmd.error('error: down needs exactly one of --count <n> or --to <name>.');
      // Refuse before connecting: a protected stage never runs down, whoever asks.
      if (existsSync(join(opts.seedsDir, 'stages.yaml'))) {
        const { assertNotProtected } = await import('../../functions/core/seed/stages.ts');
        assertNotProtected(opts.stage, 'down', { seedsDir: opts.seedsDir });
      } else if (protectedByName(opts.stage)) throw new ProtectedStageError(opts.stage, 'down');
      const o = g(cmd);
      const { down } = await engine();
      const events: MigrationEvent[] = [];
      const command = opts.to !== undefined ? `down --to ${opts.to}` : `down --count ${opts.count}`;
      const result = await recorded(o, io, { stage: opts.stage, command }, async (target) => {
        const r = await down(target, { ...safetyFrom(o, io, events), count: opts.count, to: opts.to });
        return { result: r, fields: { lastMigration: r.lastMigration, details: { reverted: r.reverted } } };
      });
      if (opts.json) {
        return io.out(json({ reverted: events.map(({ name, durationMs }) => ({ name, durationMs })), lastMigration: result.lastMigration }));
      }
      io.out(result.reverted.length
        ? `Reverted ${result.reverted.length} migration(s): ${result.reverted.join(', ')}\n`
        : 'Nothing to revert.\n');
    });

  program
    .command('status')
    .description('Show applied and pending migrations and any problems (read-only).')
    .option('--json', 'print {"applied":[{name,checksum,appliedAt}],"pending":[{name}],"problems":[{name,kind,message}]}')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { status } = await engine();
      const s = await status(targetFrom(g(cmd), io));
      if (opts.json) io.out(json(s));
      else {
        for (const a of s.applied) io.out(`applied  ${a.name}  ${a.appliedAt}  ${a.checksum ? a.checksum.slice(0, 12) : '(no checksum)'}\n`);
        for (const p of s.pending) io.out(`pending  ${p.name}\n`);
        for (const p of s.problems) io.out(`PROBLEM  ${p.kind}: ${p.message}\n`);
        if (!s.applied.length && !s.pending.length) io.out('No migrations.\n');
      }
      if (s.problems.length) throw new ExitCode(1);
    });

  program
    .command('history')
    .description('Applied migrations in order: when, by which run id, and how (applied, baseline, adopted, repair). Read-only.')
    .option('--json', 'print a JSON array of {name, appliedAt, runId, checksum, source}')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { history } = await engine();
      const h = await history(targetFrom(g(cmd), io));
      if (opts.json) io.out(json(h));
      else if (!h.length) io.out('No migrations applied.\n');
      else for (const e of h) io.out(`${e.appliedAt}  ${e.name}  ${e.source ?? '-'}  run ${e.runId ?? '-'}\n`);
    });

  program
    .command('plan')
    .description('Show pending migrations and the exact SQL they would run. Writes nothing (not even the migrations table).')
    .option('--to <name>', 'plan up to and including this migration')
    .option('--json', 'print {"pending":[{name, file, transaction, sql}]}')
    .action(async (opts: { to?: string; json?: boolean }, cmd: Command) => {
      const { plan } = await engine();
      const p = await plan(targetFrom(g(cmd), io), { to: opts.to });
      printWarnings(io, p.warnings);
      if (opts.json) return io.out(json(p));
      if (!p.pending.length) return io.out('Nothing to apply.\n');
      for (const m of p.pending) {
        io.out(`-- ${m.name} (${m.file})${m.transaction ? '' : ' -- runs WITHOUT a transaction'}\n${m.sql}\n\n`);
      }
    });

  program
    .command('validate')
    .description('Check the migrations folder and that applied migrations are unchanged and present and no new one sorts before them (read-only). Exit 1 on problems (the ones up refuses on).')
    .option('--json', `print ${JSON_SHAPES.validate} (exit 1 when problems is not empty)`)
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { validate } = await engine();
      const { problems, warnings } = await validate(targetFrom(g(cmd), io));
      if (opts.json) {
        const pick = (p: { name: string; kind: string; message: string }) => ({ name: p.name, kind: p.kind, message: p.message });
        io.out(json({ ok: problems.length === 0, problems: problems.map(pick), warnings: warnings.map(pick) }));
        if (problems.length) throw new ExitCode(1);
        return;
      }
      printWarnings(io, warnings);
      if (problems.length) throw new ValidationError(problems, 'validate');
      io.out('OK: migration files match the database.\n');
    });

  program
    .command('repair')
    .description('Accept the current files after a human decided they are right: record checksums of edited files, drop rows of deleted ones, allow out-of-order ones. Shows the changes and asks first.')
    .option('-y, --yes', 'make the changes without asking (scripts, CI)')
    .option('--json', `print ${JSON_SHAPES.repair} (also when not confirmed: written false, exit 1)`)
    .addHelpText('after', CONFIRM_HELP)
    .action(async (opts: { yes?: boolean; json?: boolean }, cmd: Command) => {
      const o = g(cmd);
      const { repair } = await engine();
      // A change list that was not confirmed ends the recorded run as failed ("Nothing was changed"), exit 1.
      let r: { changes: { name: string; action: string }[]; written: boolean } | undefined;
      try {
        await recorded(o, io, { stage: localStage(), command: 'repair' }, async (target, runId) => {
          const res = await repair(target, {
            ...safetyFrom(o, io),
            runId,
            confirm: (c) => confirm(io, opts, 'repair', c.map((x) => `${x.action}  ${x.name}  (${REPAIR_ACTIONS[x.action]})`)),
          });
          r = res;
          if (res.changes.length && !res.written) throw new NotConfirmedError('repair', res.changes.length, !!io.ask && !opts.yes);
          return { result: res, fields: { details: { changes: res.changes } } };
        });
      } finally {
        if (opts.json && r) io.out(json({ changes: r.changes.map(({ name, action }) => ({ name, action })), written: r.written }));
      }
      if (opts.json || !r) return;
      if (!r.changes.length) io.out('Nothing to repair.\n');
      for (const c of r.changes) io.out(`${c.action}  ${c.name}\n`);
    });

  program
    .command('baseline')
    .description('Mark pending migrations up to and including <name> as applied without running them (adopt an existing database). Shows the migrations and asks first.')
    .requiredOption('--to <name>', 'last migration the database already has')
    .option('-y, --yes', 'mark them without asking (scripts, CI)')
    .option('--json', `print ${JSON_SHAPES.baseline} (also when not confirmed: written false, exit 1)`)
    .addHelpText('after', CONFIRM_HELP)
    .action(async (opts: { to: string; yes?: boolean; json?: boolean }, cmd: Command) => {
      const o = g(cmd);
      const { baseline } = await engine();
      let r: { marked: string[]; written: boolean } | undefined;
      try {
        await recorded(o, io, { stage: localStage(), command: `baseline --to ${opts.to}` }, async (target, runId) => {
          const res = await baseline(target, {
            ...safetyFrom(o, io),
            to: opts.to,
            runId,
            confirm: (names) => confirm(io, opts, 'baseline', names.map((n) => `mark-applied  ${n}  (recorded as applied; its SQL is not run)`)),
          });
          r = res;
          if (res.marked.length && !res.written) throw new NotConfirmedError('baseline', res.marked.length, !!io.ask && !opts.yes);
          return { result: res, fields: { details: { marked: res.marked } } };
        });
      } finally {
        if (opts.json && r) io.out(json({ marked: r.marked, written: r.written }));
      }
      if (opts.json || !r) return;
      io.out(r.marked.length ? `Marked as applied: ${r.marked.join(', ')}\n` : 'Nothing to mark.\n');
    });

  program
    .command('create')
    .description("Scaffold a migration continuing the folder's naming (next NNNN_ index, or a timestamp prefix).")
    .argument('<name>', 'what the migration does, e.g. add_tenant_plan')
    .addOption(new Option('--type <type>', 'SQL (-- Up/-- Down sections) or TypeScript (node-pg-migrate builder)').choices(['sql', 'ts']).default('sql'))
    .option('--json', `print ${JSON_SHAPES.create}`)
    .action(async (name: string, opts: { type: 'sql' | 'ts'; json?: boolean }, cmd: Command) => {
      const { create } = await import('../../functions/core/migrate/create.ts');
      const file = await create(g(cmd).dir, name, { type: opts.type });
      io.out(opts.json ? json({ file }) : `${file}\n`);
    });

  program
    .command('lint')
    .description('Run squawk over the up SQL of pending migrations (TypeScript rendered first); exit 1 on findings.')
    .option('--all', 'lint every migration (also the default when no database is given)')
    .option('--json', 'print {"checked":[...],"findings":[{migration,file,line,rule,message}]}')
    .addHelpText('after', `
Acknowledge a finding in the migration itself, with a reason:
  SQL:        -- squawk-ignore <rule>[, <rule>]: <why this is safe>   (next statement)
              -- squawk-ignore-file <rule>: <why>                       (whole file)
  TypeScript: // squawk-ignore-file <rule>: <why>
require-lock-timeout and require-statement-timeout are not checked: the migrator sets both.`)
    .action(async (opts: { all?: boolean; json?: boolean }, cmd: Command) => {
      const { lint } = await import('../../functions/core/migrate/lint.ts');
      const r = await lint(targetFrom(g(cmd), io), { all: opts.all });
      if (opts.json) io.out(json(r));
      else {
        for (const f of r.findings) io.out(`${f.file}:${f.line}: ${f.rule}: ${f.message}${f.help ? ` (${f.help})` : ''}\n`);
        io.out(`${r.findings.length} finding(s) in ${r.checked.length} migration(s).\n`);
      }
      if (r.findings.length) throw new ExitCode(1);
    });
}
