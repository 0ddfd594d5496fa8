/**
 * The migration commands of the `migrator` CLI: up, down, status, history, plan, validate, repair,
 * baseline, create, lint. Also the shared pieces other command modules use: the output sink and how the
 * global options become a MigrationTarget and SafetyOptions.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ValidationError } from '../../functions/core/errors.ts';
import { protectedByName } from '../../functions/core/protected-stage.ts';
import { ProtectedStageError } from '../../functions/core/seed/errors.ts';
import { activity } from './activity.ts';
import type { ConnectOptions } from '../../functions/core/db.ts';
import type { MigrationTarget, SafetyOptions } from '../../functions/core/migrate/types.ts';
import type { RunFields, RunStart } from '../../functions/core/run-history.ts';
import { localActor } from './actor.ts';

// Startup stays cheap: commands register with commander only; the engine (pg, node-pg-migrate), create,
// lint and the seed stages (yaml, zod) load inside the action that needs them.
const engine = () => import('../../functions/core/migrate/engine.ts');

/** Where commands print: stdout for results, stderr for progress and errors. Tests capture both. */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
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
    .option('--verbose', 'progress lines, and stack traces with errors');
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
export function safetyFrom(opts: GlobalOptions, io: CliIO): SafetyOptions {
  return {
    lockWaitTimeoutMs: opts.lockWaitTimeout,
    lockTimeoutMs: opts.lockTimeout,
    statementTimeoutMs: opts.statementTimeout,
    log: (line) => {
      activity.last = line; // named by the interrupt line if a signal ends the run
      if (opts.verbose) io.err(`${line}\n`);
    },
  };
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

/** A command's --json output: indented, one trailing newline. */
export const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

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
    .action(async (opts: { to?: string }, cmd: Command) => {
      const o = g(cmd);
      const { runJob } = await import('../../functions/core/job.ts');
      const result = await runJob({
        target: targetFrom(o, io),
        trigger: 'local',
        stage: localStage(),
        actor: localActor(),
        command: opts.to ? `up --to ${opts.to}` : 'up',
        to: opts.to,
        ...safetyFrom(o, io),
      });
      // Warnings go to stderr always; with --verbose the engine's progress log printed them already.
      if (!o.verbose) printWarnings(io, result.warnings);
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
    .action(async (opts: { count?: number; to?: string; stage: string; seedsDir: string }, cmd: Command) => {
      if ((opts.count === undefined) === (opts.to === undefined)) cmd.error('error: down needs exactly one of --count <n> or --to <name>.');
      // Refuse before connecting: a protected stage never runs down, whoever asks.
      if (existsSync(join(opts.seedsDir, 'stages.yaml'))) {
        const { assertNotProtected } = await import('../../functions/core/seed/stages.ts');
        assertNotProtected(opts.stage, 'down', { seedsDir: opts.seedsDir });
      } else if (protectedByName(opts.stage)) throw new ProtectedStageError(opts.stage, 'down');
      const o = g(cmd);
      const { down } = await engine();
      const command = opts.to !== undefined ? `down --to ${opts.to}` : `down --count ${opts.count}`;
      const result = await recorded(o, io, { stage: opts.stage, command }, async (target) => {
        const r = await down(target, { ...safetyFrom(o, io), count: opts.count, to: opts.to });
        return { result: r, fields: { lastMigration: r.lastMigration, details: { reverted: r.reverted } } };
      });
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
    .action(async (_opts: object, cmd: Command) => {
      const { validate } = await engine();
      const { problems, warnings } = await validate(targetFrom(g(cmd), io));
      printWarnings(io, warnings);
      if (problems.length) throw new ValidationError(problems, 'validate');
      io.out('OK: migration files match the database.\n');
    });

  program
    .command('repair')
    .description('Accept the current files after a human decided they are right: record checksums of edited files, drop rows of deleted ones, allow out-of-order ones.')
    .action(async (_opts: object, cmd: Command) => {
      const o = g(cmd);
      const { repair } = await engine();
      const { changes } = await recorded(o, io, { stage: localStage(), command: 'repair' }, async (target, runId) => {
        const r = await repair(target, { ...safetyFrom(o, io), runId });
        return { result: r, fields: { details: { changes: r.changes } } };
      });
      if (!changes.length) io.out('Nothing to repair.\n');
      for (const c of changes) io.out(`${c.action}  ${c.name}\n`);
    });

  program
    .command('baseline')
    .description('Mark pending migrations up to and including <name> as applied without running them (adopt an existing database).')
    .requiredOption('--to <name>', 'last migration the database already has')
    .action(async (opts: { to: string }, cmd: Command) => {
      const o = g(cmd);
      const { baseline } = await engine();
      const { marked } = await recorded(o, io, { stage: localStage(), command: `baseline --to ${opts.to}` }, async (target, runId) => {
        const r = await baseline(target, { ...safetyFrom(o, io), to: opts.to, runId });
        return { result: r, fields: { details: { marked: r.marked } } };
      });
      io.out(marked.length ? `Marked as applied: ${marked.join(', ')}\n` : 'Nothing to mark.\n');
    });

  program
    .command('create')
    .description("Scaffold a migration continuing the folder's naming (next NNNN_ index, or a timestamp prefix).")
    .argument('<name>', 'what the migration does, e.g. add_tenant_plan')
    .addOption(new Option('--type <type>', 'SQL (-- Up/-- Down sections) or TypeScript (node-pg-migrate builder)').choices(['sql', 'ts']).default('sql'))
    .action(async (name: string, opts: { type: 'sql' | 'ts' }, cmd: Command) => {
      const { create } = await import('../../functions/core/migrate/create.ts');
      io.out(`${await create(g(cmd).dir, name, { type: opts.type })}\n`);
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
