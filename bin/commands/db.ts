/**
 * `migrator db start|stop|url|status`: a local embedded PostgreSQL that keeps running between commands
 * (the same data folder as `migrator dev`, `.local/pg`), so every command can be tried locally:
 *
 *   export DATABASE_URL=$(npx migrator db start)
 *   npx migrator up && npx migrator status
 *   npx migrator db stop
 *
 * One server per data folder: `db start` returns the running one, `dev` reuses it (postmaster.pid says
 * which process owns the folder, and PostgreSQL itself refuses a second one).
 */
import type { Command } from 'commander';
import { MigratorError } from '../../functions/core/errors.ts';
import { embeddedPostgresMissing } from './dev.ts';
import { ExitCode, integer, json, type CliIO } from './migrate.ts';

interface DbOptions {
  dataDir: string;
  port?: number;
  json?: boolean;
}

// Loaded in the actions: the embedded server is a development tool, never part of a deployed bundle.
const local = () => import('../../local/embedded-postgres.ts').catch(embeddedPostgresMissing);

export function registerDbCommands(program: Command, io: CliIO): void {
  const db = program
    .command('db')
    .description('A local embedded PostgreSQL that keeps running between commands (data in .local/pg, as `dev` uses): start, stop, url, status.')
    .addHelpText('after', '\nExample:\n  export DATABASE_URL=$(npx migrator db start)\n  npx migrator up\n  npx migrator db stop');
  const dataDir = (cmd: Command) => cmd.option('--data-dir <path>', 'embedded PostgreSQL data folder (kept between runs)', '.local/pg');

  dataDir(db.command('start'))
    .description('Start the embedded PostgreSQL in the background (or find the one running) and print its DATABASE_URL on stdout.')
    .option('--port <port>', 'port (default: a free one)', integer)
    .option('--json', 'print {"url","pid","port","dataDir","started"}')
    .action(async (opts: DbOptions) => {
      const { startDetached } = await local();
      const s = await startDetached({ dataDir: opts.dataDir, port: opts.port });
      if (opts.json) return io.out(json({ url: s.url, pid: s.pid, port: s.port, dataDir: s.dataDir, started: s.started }));
      io.err(
        `${s.started ? 'Started' : 'Already running:'} embedded PostgreSQL (pid ${s.pid}, port ${s.port}, data in ${opts.dataDir}). ` +
          'Stop it with `migrator db stop`.\n',
      );
      io.out(`${s.url}\n`);
    });

  dataDir(db.command('url'))
    .description('Print the DATABASE_URL of the running embedded PostgreSQL (exit 1 when none runs).')
    .action(async (opts: DbOptions) => {
      const { runningServer } = await local();
      const s = runningServer(opts.dataDir);
      if (!s) throw notRunning(opts.dataDir);
      io.out(`${s.url}\n`);
    });

  dataDir(db.command('status'))
    .description('Say whether the embedded PostgreSQL runs (exit 0) or not (exit 1).')
    .option('--json', 'print {"running","url","pid","port","dataDir"} (url/pid/port null when stopped)')
    .action(async (opts: DbOptions) => {
      const { runningServer } = await local();
      const s = runningServer(opts.dataDir);
      if (opts.json) io.out(json({ running: !!s, url: s?.url ?? null, pid: s?.pid ?? null, port: s?.port ?? null, dataDir: s?.dataDir ?? opts.dataDir }));
      else io.out(s ? `running  pid ${s.pid}  port ${s.port}  ${s.url}\n` : `stopped  (data in ${opts.dataDir})\n`);
      if (!s) throw new ExitCode(1);
    });

  dataDir(db.command('stop'))
    .description('Stop the embedded PostgreSQL (fast shutdown; the data stays).')
    .action(async (opts: DbOptions) => {
      const { stopServer } = await local();
      io.out((await stopServer(opts.dataDir)) ? 'Stopped.\n' : `Not running (data in ${opts.dataDir}).\n`);
    });
}

const notRunning = (dataDir: string) =>
  new MigratorError(`No embedded PostgreSQL is running on ${dataDir}: start one with \`migrator db start\`.`);
