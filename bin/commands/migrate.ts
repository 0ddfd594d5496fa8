/**
 * The migration commands of the `migrator` CLI: up, down, status, history, plan, validate, repair,
 * baseline, create, lint. Also the shared pieces other command modules use: the output sink and how the
 * global options become a MigrationTarget and SafetyOptions.
 */
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { MigratorError, ValidationError } from '../../functions/core/errors.ts';
import type { Target } from '../../functions/core/config/targets.ts';
import { protectedByName } from '../../functions/core/protected-stage.ts';
import { ProtectedStageError } from '../../functions/core/seed/errors.ts';
import { activity } from './activity.ts';
import { DEFAULT_AWS_BUDGET } from '../../functions/core/aws/clients.ts';
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
  /** idle_in_transaction_session_timeout of the migration session; sets the migration lock's lease. */
  idleTimeout: number;
  connectTimeout: number;
  connectRetries: number;
  verbose?: boolean;
  /** No progress lines on stderr (errors, warnings and retry lines still print). */
  quiet?: boolean;
  /** Config file with named targets (default: migrator.config.yaml|yml|json in the working directory). */
  config?: string;
  /** Target of the config file to run on. */
  target?: string;
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
    .option('--statement-timeout <ms>', 'statement_timeout of every statement (migrations, seeds, reads); the client gives up on a server that stops answering after the longer of this and --lock-wait-timeout, plus a margin (0: no bound)', milliseconds, 600_000)
    .option('--idle-timeout <ms>', 'how long a migration session may sit idle inside a transaction before the server ends it; a runner that stops answering (frozen, suspended, cut off) loses its sessions and the migration lock within --statement-timeout + 2 x this', milliseconds, 60_000)
    .option('--connect-timeout <ms>', 'timeout of one connection attempt', milliseconds, 10_000)
    .option('--connect-retries <n>', 'connection retries (exponential backoff) for a waking database; each retry prints a line', integer, 5)
    .option('--verbose', "node-pg-migrate's own log lines, and stack traces with errors")
    .option('-q, --quiet', 'no progress lines on stderr (one per migration by default; errors and warnings still print)')
    .option('--config <path>', 'config file naming targets (default: migrator.config.yaml, .yml or .json in the working directory)')
    .addOption(new Option('--target <name>', 'target of the config file to run on (its database URL variable, folders, table, stage)').env('MIGRATOR_TARGET'));
  // One target chosen (by --target, or the only one in the file): its values become the options' values,
  // so every command (seed, down, dev, ...) sees them. Command-line flags win over the target; the
  // target wins over environment defaults (DATABASE_URL, MIGRATOR_STAGE). `--all` commands iterate instead.
  program.hook('preAction', async (_program, action) => {
    if (NO_TARGET.has(action.name()) || allTargets(action)) return;
    const chosen = await configuredTargets(action);
    if (!chosen) return;
    if (chosen.length !== 1) throw new Error('unreachable: one target expected');
    const { databaseUrlOf } = await import('../../functions/core/config/targets.ts');
    applyTarget(action, chosen[0]!, databaseUrlOf(chosen[0]!));
  });
}

/** Commands that use no target (no database, no migrations folder). */
const NO_TARGET = new Set(['targets', 'invoke', 'seed-schema']);

/** Set the options a target describes, except those given on the command line. */
function applyTarget(action: Command, target: Target, databaseUrl: string | undefined): void {
  const program = rootOf(action);
  const set = (cmd: Command, key: string, value: string | undefined) => {
    if (value === undefined) return;
    const source = cmd.getOptionValueSource(key);
    if (source === 'cli') return;
    cmd.setOptionValueWithSource(key, value, 'config');
  };
  set(program, 'databaseUrl', databaseUrl);
  set(program, 'dir', target.migrations);
  set(program, 'migrationsTable', target.migrationsTable);
  set(program, 'migrationsSchema', target.migrationsSchema);
  if (action.options.some((o) => o.attributeName() === 'seedsDir')) set(action, 'seedsDir', target.seeds);
  if (action.options.some((o) => o.attributeName() === 'stage')) set(action, 'stage', target.stage);
}

function rootOf(cmd: Command): Command {
  let c = cmd;
  while (c.parent) c = c.parent;
  return c;
}

/** Whether the command was asked to run on every target (`--all`; lint: `--all-targets`). */
function allTargets(cmd: Command): boolean {
  return Boolean(cmd.opts().allTargets ?? (cmd.name() !== 'lint' && cmd.opts().all));
}

/**
 * The targets the options select from the config file, or undefined when there is no config file (then
 * the flags alone describe the target). `--target`/`--all` without a config file is an error.
 */
async function configuredTargets(cmd: Command): Promise<Target[] | undefined> {
  const o = cmd.optsWithGlobals<GlobalOptions>();
  const all = allTargets(cmd);
  const { findConfigFile, loadTargetsConfig, selectTargets } = await import('../../functions/core/config/targets.ts');
  const file = findConfigFile(process.cwd(), o.config);
  if (!file) {
    if (o.target !== undefined || all) {
      throw new MigratorError(`${all ? '--all' : '--target'} needs a config file: none of migrator.config.yaml, .yml, .json in ${process.cwd()} (or pass --config PATH).`);
    }
    return undefined;
  }
  if (all && o.target !== undefined) throw new MigratorError('Pass --target NAME or --all, not both.');
  if (all) {
    const flags = ['databaseUrl', 'dir', 'migrationsTable', 'migrationsSchema'].filter((k) => cmd.getOptionValueSourceWithGlobals(k) === 'cli');
    if (flags.length) throw new MigratorError(`--all runs on each target's own database and folder: drop ${flags.map(flagOf).join(', ')}.`);
  }
  return selectTargets(loadTargetsConfig(file), { target: o.target, all });
}

const flagOf = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/**
 * Run `body` on the chosen target, or with `--all` on every target of the config file in turn: a header
 * line per target, a failing target reported and the next one run, exit 1 if any failed. With --json the
 * output is one object: {"targets": {"<name>": <the command's JSON> | {"error": "..."}}}.
 */
async function eachTarget(cmd: Command, io: CliIO, body: (target: MigrationTarget, io: CliIO) => Promise<void>): Promise<void> {
  const o = cmd.optsWithGlobals<GlobalOptions & { json?: boolean }>();
  if (!allTargets(cmd)) return body(targetFrom(o, io), io);
  const targets = (await configuredTargets(cmd))!;
  const { migrationTargetOf } = await import('../../functions/core/config/targets.ts');
  const results: Record<string, unknown> = {};
  let failed = 0;
  for (const t of targets) {
    let captured = '';
    const sink: CliIO = o.json ? { out: (text) => void (captured += text), err: io.err } : io;
    if (!o.json) io.out(`== ${t.name} (${t.migrations})\n`);
    try {
      await body({ ...migrationTargetOf(t), runsTable: o.runsTable, connect: targetFrom(o, io).connect }, sink);
      if (o.json) results[t.name] = JSON.parse(captured);
    } catch (error) {
      failed++;
      if (error instanceof ExitCode) {
        if (o.json) results[t.name] = JSON.parse(captured);
        continue;
      }
      const message = (error as Error).message;
      if (o.json) results[t.name] = { error: message };
      else io.err(`error: [${t.name}] ${message}\n`);
    }
  }
  if (o.json) io.out(json({ targets: results }));
  if (failed) throw new ExitCode(1);
}

/**
 * The longest a CLI seed or rotate-key waits on one AWS call inside its transaction: the CLI's seed clients
 * make 4 attempts of DEFAULT_AWS_BUDGET's request timeout each (functions/core/seed/aws.ts), plus a connect.
 */
const CLI_AWS_WAIT_MS = 4 * DEFAULT_AWS_BUDGET.requestTimeoutMs + DEFAULT_AWS_BUDGET.connectionTimeoutMs + 5_000;

/** Margin of the client-side query bound over the longest server-side wait: a tenth, 1 to 15 s. */
export function queryMarginMs(longestWaitMs: number): number {
  return Math.min(15_000, Math.max(1_000, Math.floor(longestWaitMs / 10)));
}

/**
 * The client-side bound on every query of a CLI session: the longest wait the server itself bounds
 * (statement_timeout, or the migration lock's wait) plus a margin, so PostgreSQL's own error comes first
 * and this one only when the server stopped answering. `--statement-timeout 0` lifts it.
 */
export function queryBoundMs(opts: Pick<GlobalOptions, 'statementTimeout' | 'lockWaitTimeout'>): number | undefined {
  if (opts.statementTimeout === 0) return undefined;
  const longest = Math.max(opts.statementTimeout, opts.lockWaitTimeout);
  return Math.min(MAX_TIMEOUT_MS, longest + queryMarginMs(longest));
}

/** The connect options the global options describe; with `io`, one stderr line per retry. */
export function connectFrom(opts: GlobalOptions, io?: CliIO): ConnectOptions {
  const bound = queryBoundMs(opts);
  return {
    connectTimeoutMs: opts.connectTimeout,
    retries: opts.connectRetries,
    // From the first statement of every session (reads, seeds and unlock included): a server-side bound on
    // each statement, and server-side keepalives, so a client host that vanished is noticed within a minute.
    sessionSettings: {
      ...(opts.statementTimeout ? { statement_timeout: opts.statementTimeout } : {}),
      // A transaction left open by a runner that stopped answering ends (with its locks: the seed's, the
      // application's rows it touched). Never below the longest AWS wait a seed or rotate-key makes inside
      // its transaction; while the migration lock is held, withLock sets --idle-timeout itself.
      ...(opts.idleTimeout ? { idle_in_transaction_session_timeout: Math.max(opts.idleTimeout, CLI_AWS_WAIT_MS) } : {}),
      tcp_keepalives_idle: 30,
      tcp_keepalives_interval: 10,
      tcp_keepalives_count: 3,
    },
    queryTimeoutMs: bound,
    queryTimeoutAdvice: bound
      ? `That bound is the longer of --statement-timeout (${opts.statementTimeout} ms) and --lock-wait-timeout (${opts.lockWaitTimeout} ms), plus ${queryMarginMs(Math.max(opts.statementTimeout, opts.lockWaitTimeout))} ms; raise them if the database is only slow.`
      : undefined,
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
    idleTimeoutMs: opts.idleTimeout,
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
  fn: (target: MigrationTarget & { client: import('pg').Client }, runId: string, onValidated: () => Promise<void>) => Promise<{ result: T; fields?: RunFields }>,
): Promise<T> {
  const [{ withClient }, { recordRun }] = await Promise.all([
    import('../../functions/core/migrate/session.ts'),
    import('../../functions/core/run-history.ts'),
  ]);
  const target = targetFrom(opts, io);
  return withClient(target, async (client) => {
    const t = { ...target, client };
    // The row opens once the engine validated (onValidated): a refused command writes nothing.
    const { result } = await recordRun(
      client,
      { ...start, trigger: 'local', actor: localActor(), runsTable: target.runsTable, target: t, startWhen: 'validated' },
      (runId, record) => fn(t, runId, () => record.start()),
    );
    return result;
  });
}

/** Folder warnings (problems of already applied migrations, naming) on stderr, one line each. */
function printWarnings(io: CliIO, warnings: { message: string }[] | undefined): void {
  for (const w of warnings ?? []) io.err(`warning: ${w.message}\n`);
}
const rel = (path: string) => relative(process.cwd(), path) || '.';
const ALL_HELP = 'run on every target of the config file in turn (exit 1 if any fails)';

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
async function confirm(
  io: CliIO,
  opts: { yes?: boolean; json?: boolean },
  command: string,
  lines: string[],
  session?: { client: import('pg').Client; idleTimeoutMs: number },
): Promise<boolean> {
  if (opts.yes) return true;
  // With --json, stdout is the JSON document only: the list goes to stderr.
  (opts.json ? io.err : io.out)(`${command} would make ${lines.length} change(s) (nothing written yet):\n${lines.map((l) => `  ${l}\n`).join('')}`);
  if (!io.ask) return false;
  // The open transaction waits for the person: keep it from reaching --idle-timeout meanwhile.
  const keepAlive = session && session.idleTimeoutMs > 0
    ? setInterval(() => void session.client.query('SELECT 1').catch(() => {}), Math.max(100, Math.floor(session.idleTimeoutMs / 3)))
    : undefined;
  try {
    return /^\s*y(es)?\s*$/i.test(await io.ask(`Apply these ${lines.length} change(s)? [y/N] `));
  } finally {
    clearInterval(keepAlive);
  }
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
    .description('Validate, then apply pending migrations (each in its own transaction), serialized by the migration lock (a row lock only the migrator role can take).')
    .option('--to <name>', 'apply up to and including this migration (its name or a unique prefix, e.g. 0009)')
    .option('--all', ALL_HELP)
    .addHelpText('after', '\nRefuses (exit 1, nothing changed) when an applied migration was edited or deleted, a new one sorts before applied ones,\n' +
      'or a pending one is wrong: Down section without Up, COMMIT/BEGIN/ROLLBACK at its top level, a duplicate number, no statements,\n' +
      'not UTF-8, a skipped look-alike file (0009_x.SQL), a symlink out of the folder. The same checks as validate and plan.')
    .option('--json', `print ${JSON_SHAPES.up}`)
    .action(async (opts: { to?: string; json?: boolean }, cmd: Command) => {
      const o = g(cmd);
      const { runJob } = await import('../../functions/core/job.ts');
      await eachTarget(cmd, io, async (target, io) => {
        const events: MigrationEvent[] = [];
        const result = await runJob({
          target,
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
    });

  program
    .command('down')
    .description('Revert the most recent migrations (by count, or all after a named one). For humans; deploys never run down.')
    .option('--count <n>', 'revert this many migrations', integer)
    .option('--to <name>', 'revert every migration applied after this one (it stays applied; name or unique prefix)')
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
      const result = await recorded(o, io, { stage: opts.stage, command }, async (target, _runId, onValidated) => {
        const r = await down(target, { ...safetyFrom(o, io, events), count: opts.count, to: opts.to, onValidated });
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
    .option('--json', 'print {"applied":[{name,checksum,appliedAt}],"pending":[{name}],"problems":[{name,kind,message}],"warnings":[string]}')
    .option('--all', ALL_HELP)
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { status } = await engine();
      await eachTarget(cmd, io, async (target, io) => {
        const s = await status(target);
        printWarnings(io, s.warnings);
        if (opts.json) io.out(json(s));
        else {
          for (const a of s.applied) io.out(`applied  ${a.name}  ${a.appliedAt}  ${a.checksum ? a.checksum.slice(0, 12) : '(no checksum)'}\n`);
          for (const p of s.pending) io.out(`pending  ${p.name}\n`);
          for (const p of s.problems) io.out(`PROBLEM  ${p.kind}: ${p.message}\n`);
          if (!s.applied.length && !s.pending.length) io.out('No migrations.\n');
        }
        if (s.problems.length) throw new ExitCode(1);
      });
    });

  program
    .command('history')
    .description('Applied migrations in order: when, by which run id, and how (applied, baseline, adopted, repair). Read-only.')
    .option('--json', 'print a JSON array of {name, appliedAt, runId, checksum, source}')
    .option('--all', ALL_HELP)
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { history } = await engine();
      await eachTarget(cmd, io, async (target, io) => {
        const h = await history(target);
        if (opts.json) io.out(json(h));
        else if (!h.length) io.out('No migrations applied.\n');
        else for (const e of h) io.out(`${e.appliedAt}  ${e.name}  ${e.source ?? '-'}  run ${e.runId ?? '-'}\n`);
      });
    });

  program
    .command('plan')
    .description('Show pending migrations and the exact SQL they would run. Writes nothing (not even the migrations table).')
    .option('--to <name>', 'plan up to and including this migration (name or unique prefix)')
    .option('--json', 'print {"pending":[{name, file, transaction, longRunning, sql}]}')
    .option('--all', ALL_HELP)
    .action(async (opts: { to?: string; json?: boolean }, cmd: Command) => {
      const { plan } = await engine();
      await eachTarget(cmd, io, async (target, io) => {
        const p = await plan(target, { to: opts.to });
        printWarnings(io, p.warnings);
        if (opts.json) return io.out(json(p));
        if (!p.pending.length) return io.out('Nothing to apply.\n');
        for (const m of p.pending) {
          io.out(`-- ${m.name} (${m.file})${m.transaction ? '' : ' -- runs WITHOUT a transaction'}${m.longRunning ? ' -- long-running (a fleet runs it in CodeBuild)' : ''}\n${m.sql}\n\n`);
        }
      });
    });

  program
    .command('validate')
    .description('Check the migrations folder and that applied migrations are unchanged and present and no new one sorts before them (read-only). Exit 1 on problems (the ones up refuses on).')
    .option('--json', `print ${JSON_SHAPES.validate} (exit 1 when problems is not empty)`)
    .option('--all', ALL_HELP)
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { validate } = await engine();
      await eachTarget(cmd, io, async (target, io) => {
        const { problems, warnings } = await validate(target);
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
        await recorded(o, io, { stage: localStage(), command: 'repair' }, async (target, runId, onValidated) => {
          const res = await repair(target, {
            ...safetyFrom(o, io),
            runId,
            onValidated,
            confirm: (c) => confirm(io, opts, 'repair', c.map((x) => `${x.action}  ${x.name}  (${REPAIR_ACTIONS[x.action]})`), { client: target.client, idleTimeoutMs: o.idleTimeout }),
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
    .requiredOption('--to <name>', 'last migration the database already has (name or unique prefix)')
    .option('-y, --yes', 'mark them without asking (scripts, CI)')
    .option('--json', `print ${JSON_SHAPES.baseline} (also when not confirmed: written false, exit 1)`)
    .addHelpText('after', CONFIRM_HELP)
    .action(async (opts: { to: string; yes?: boolean; json?: boolean }, cmd: Command) => {
      const o = g(cmd);
      const { baseline } = await engine();
      let r: { marked: string[]; written: boolean } | undefined;
      try {
        await recorded(o, io, { stage: localStage(), command: `baseline --to ${opts.to}` }, async (target, runId, onValidated) => {
          const res = await baseline(target, {
            ...safetyFrom(o, io),
            to: opts.to,
            runId,
            onValidated,
            confirm: (names) => confirm(io, opts, 'baseline', names.map((n) => `mark-applied  ${n}  (recorded as applied; its SQL is not run)`), { client: target.client, idleTimeoutMs: o.idleTimeout }),
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
    .command('unlock')
    .description("End the session holding the migration lock when the run behind it is gone, and record it in migration_runs.")
    .option('--yes', "confirm: end the holder's session (without it, only show who holds the lock)")
    .option('--force', 'also end a holder that is running a statement right now (its transaction rolls back)')
    .option('--json', 'print {"holders":[{pid, applicationName, user, clientAddr, backendStart, stateChange, state, query}],"ended":[pid],"runId"}')
    .addHelpText('after', '\nA healthy run holds the lock too: check `migrator runs` and the holder shown (application_name migrator:<runId> names the run) first.\n' +
      'Needs the right to end the session (the same role, a superuser, or pg_signal_backend, e.g. RDS\'s rds_superuser).')
    .action(async (opts: { yes?: boolean; force?: boolean; json?: boolean }, cmd: Command) => {
      const o = g(cmd);
      const { unlock } = await import('../../functions/core/migrate/unlock.ts');
      const { describeHolder } = await import('../../functions/core/migrate/lock-holder.ts');
      let r: Awaited<ReturnType<typeof unlock>> & { runId?: string };
      if (!opts.yes) r = await unlock(targetFrom(o, io), { dryRun: true });
      else {
        // A recorded run: who ended which session, in the same history as every other run.
        let runId = '';
        const result = await recorded(o, io, { stage: localStage(), command: `unlock${opts.force ? ' --force' : ''}` }, async (target, id, onValidated) => {
          runId = id;
          const u = await unlock(target, { force: opts.force, onValidated });
          return { result: u, fields: { details: { ended: u.ended, holders: u.holders.map(describeHolder) } } };
        });
        r = { ...result, runId };
      }
      if (opts.json) io.out(json(r));
      else if (!r.holders.length) io.out('Nobody holds the migration lock.\n');
      else {
        for (const h of r.holders) io.out(`${r.ended.includes(h.pid) ? 'ended' : 'held by'}  ${describeHolder(h)}\n`);
        if (r.runId) io.out(`Recorded as run ${r.runId}.\n`);
      }
      if (r.holders.length && !opts.yes) {
        io.err('Nothing was ended: pass --yes to end the session holding the lock.\n');
        throw new ExitCode(1);
      }
    });

  program
    .command('targets')
    .description('List the targets of the config file (migrator.config.yaml, or --config): URL variable, folders, table, stage.')
    .option('--json', 'print {"file", "targets":[{name, databaseUrlEnv?, url?, migrations, migrationsTable, migrationsSchema, seeds?, stage?}]}')
    .option('--write-schema', 'write the JSON Schema for editors (schema/migrator.config.schema.json in this package) and exit')
    .addHelpText('after', `
Example migrator.config.yaml (no passwords: each target names the variable holding its URL):
  targets:
    auth:
      databaseUrlEnv: AUTH_DATABASE_URL
      migrations: db/auth/migrations
    ecs:
      databaseUrlEnv: ECS_DATABASE_URL
      migrations: db/ecs/migrations
      migrationsTable: ecs_migrations
      stage: local
Then: migrator up --target auth; migrator status --all.`)
    .action(async (opts: { json?: boolean; writeSchema?: boolean }, cmd: Command) => {
      if (opts.writeSchema) {
        const { writeConfigSchema } = await import('../../functions/core/config/json-schema.ts');
        return io.out(`Wrote ${writeConfigSchema()}\n`);
      }
      const { findConfigFile, loadTargetsConfig } = await import('../../functions/core/config/targets.ts');
      const file = findConfigFile(process.cwd(), g(cmd).config);
      if (!file) throw new MigratorError(`No config file: none of migrator.config.yaml, .yml, .json in ${process.cwd()} (or pass --config PATH).`);
      const config = loadTargetsConfig(file);
      if (opts.json) return io.out(json(config));
      for (const t of config.targets) {
        io.out(`${t.name}  ${t.databaseUrlEnv ? `$${t.databaseUrlEnv}` : t.url ?? '(--database-url)'}  ${rel(t.migrations)}  ${t.migrationsSchema}.${t.migrationsTable}${t.stage ? `  stage ${t.stage}` : ''}\n`);
      }
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
    .option('--all-targets', 'run on every target of the config file (lint\'s --all means every migration)')
    .option('--json', 'print {"checked":[...],"findings":[{migration,file,line,rule,message}]}')
    .addHelpText('after', `
Acknowledge a finding in the migration itself, with a reason:
  SQL:        -- squawk-ignore <rule>[, <rule>]: <why this is safe>   (next statement)
              -- squawk-ignore-file <rule>: <why>                       (whole file)
  TypeScript: // squawk-ignore-file <rule>: <why>
require-lock-timeout and require-statement-timeout are not checked: the migrator sets both.`)
    .action(async (opts: { all?: boolean; json?: boolean }, cmd: Command) => {
      const { lint } = await import('../../functions/core/migrate/lint.ts');
      await eachTarget(cmd, io, async (target, io) => {
        const r = await lint(target, { all: opts.all });
        if (opts.json) io.out(json(r));
        else {
          for (const f of r.findings) io.out(`${f.file}:${f.line}: ${f.rule}: ${f.message}${f.help ? ` (${f.help})` : ''}\n`);
          io.out(`${r.findings.length} finding(s) in ${r.checked.length} migration(s).\n`);
        }
        if (r.findings.length) throw new ExitCode(1);
      });
    });
}
