/**
 * `migrator`: the command line over the migration core. Run it as `npx migrator <command>` or
 * `node bin/migrator.mjs <command>` (the launcher runs the compiled dist/bin/migrator.js). Exit codes: 0 success, 1 failure
 * (including validation problems and lint findings), 2 usage error. Errors print as one paragraph on
 * stderr; the stack only with --verbose.
 *
 * Command modules register themselves here: `registerXCommands(program, io)` in bin/commands/*.ts.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { MigratorError } from '../functions/core/errors.ts';
import { activity, interruptedLine } from './commands/activity.ts';
import { registerDbCommands } from './commands/db.ts';
import { registerDevCommand } from './commands/dev.ts';
import { registerFleetCommands } from './commands/fleet.ts';
import { registerInvokeCommands } from './commands/invoke.ts';
import { devSeeding, registerSeedCommands } from './commands/seed.ts';
import { addGlobalOptions, ExitCode, registerMigrateCommands, type CliIO } from './commands/migrate.ts';

// The AWS SDK warns on every run under Node < 22 (seed, rotate-key, invoke); the CLI supports Node 20.
// Honoured by @aws-sdk/core; a user who sets it keeps their value.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const processIO: CliIO = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  // Only a person at a terminal is asked (repair, baseline); scripts get "run again with --yes".
  ask: process.stdin.isTTY
    ? async (question) => {
        const { createInterface } = await import('node:readline/promises');
        const rl = createInterface({ input: process.stdin, output: process.stderr });
        try {
          return await rl.question(question);
        } finally {
          rl.close();
        }
      }
    : undefined,
};

/**
 * This package's version, from its package.json (found upward from this file, so the lookup also
 * holds for a compiled copy of the CLI in a subfolder).
 */
export function packageVersion(): string {
  for (let dir = new URL('.', import.meta.url); ; dir = new URL('..', dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'pg-tenant-migrator' && pkg.version) return pkg.version;
    } catch {
      // no package.json here: look further up
    }
    if (dir.pathname === '/') return 'unknown';
  }
}

/** The program with all commands; commander errors are thrown (exitOverride), output goes to `io`. */
export function buildProgram(io: CliIO = processIO, onCommanderOutput?: () => void): Command {
  const program = new Command('migrator')
    .description('Safe PostgreSQL migrations (node-pg-migrate formats) with checksums, locking and deadlines; declarative tenant seeds for any schema; local dev runner.')
    .version(packageVersion(), '-V, --version', 'print the version of pg-tenant-migrator')
    .exitOverride()
    .configureOutput({
      writeOut: io.out,
      writeErr: io.err,
      // Commander prints its own usage errors; main() prints the ones actions throw (see below).
      outputError: (text, write) => {
        onCommanderOutput?.();
        write(text);
      },
    })
    .showHelpAfterError('(run with --help for usage)')
    .showSuggestionAfterError()
    .addHelpText('after', `
Exit codes: 0 success; 1 failure (one paragraph on stderr; also validation problems, lint findings, an
unconfirmed repair/baseline); 2 usage error; 130/143 interrupted by SIGINT/SIGTERM (the database session
ends: the migration in progress is rolled back and the lock released).
Progress: one line per migration on stderr (--quiet: none). --json: one JSON document on stdout.
Local database: export DATABASE_URL=$(migrator db start); ...; migrator db stop.`);
  addGlobalOptions(program);
  program.hook('preAction', (_program, action) => void (activity.command = action.name()));
  registerMigrateCommands(program, io);
  registerDevCommand(program, io, devSeeding(io));
  registerDbCommands(program, io);
  registerSeedCommands(program, io);
  registerInvokeCommands(program, io);
  registerFleetCommands(program, io);
  return program;
}

/** Run the CLI with `argv` (node-style: [node, script, ...args]); resolves to the exit code. */
export async function main(argv: string[] = process.argv, io: CliIO = processIO): Promise<number> {
  let printedByCommander = false;
  const program = buildProgram(io, () => void (printedByCommander = true));
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof ExitCode) return error.code;
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return 0; // help, version
      // A usage error thrown inside an action (e.g. InvalidArgumentError: no database given) has not been
      // printed by commander: print it as one paragraph, like every other error.
      if (!printedByCommander) io.err(`error: ${error.message.replace(/^error: /, '')}\n(run with --help for usage)\n`);
      return 2;
    }
    const verbose = argv.includes('--verbose');
    let err = error as Error;
    // pg's own words for a lost session ("Client has encountered a connection error and is not queryable")
    // say nothing about the run: name the command and what happened to its work.
    if (!(err instanceof MigratorError)) {
      const { isConnectionLoss } = await import('../functions/core/connection-loss.ts');
      if (isConnectionLoss(err)) {
        const { ConnectionLostError } = await import('../functions/core/errors.ts');
        err = new ConnectionLostError(
          {
            step: `\`migrator ${activity.command ?? ''}\``.replace(' `', '`'),
            consequence: 'PostgreSQL rolls back the open transaction of a session that ends, so the statement in progress left nothing; what was committed before stays.',
          },
          { cause: err },
        );
      }
    }
    const expected = err instanceof MigratorError;
    io.err(`error: ${err.message}\n`);
    if (verbose && err.stack) io.err(`${err.stack}\n`);
    else if (!expected) io.err('(run with --verbose for details)\n');
    return 1;
  }
}

/**
 * Run the CLI as the program: `main()`, then exit with its code. The launcher (bin/migrator.mjs) calls
 * this unconditionally: npx, `node_modules/.bin` and global installs start the bin through a symlink, so
 * "am I the entry point?" checks on `process.argv[1]` are wrong there (they silently did nothing).
 */
export async function run(argv: string[] = process.argv): Promise<never> {
  // `migrator plan | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' ? process.exit(0) : undefined));
  // A signal ends the process (and so its database session: PostgreSQL rolls back and releases the lock);
  // say what was interrupted, in one line, and exit 128 + signal number as shells do.
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      processIO.err(interruptedLine(signal));
      process.exit(code);
    });
  }
  const code = await main(argv);
  // Exit explicitly: open handles (pools, servers a library left) must not keep the process alive or change its code.
  process.exitCode = code;
  process.exit(code);
}
