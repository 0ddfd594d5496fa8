/**
 * The seeding commands of the `migrator` CLI: seed, reseed, rotate-key, runs, seed-schema, and the seed
 * step `migrator dev` runs after migrating (`devSeeding`, passed to it by bin/migrator.ts).
 *
 * AWS: KMS and Secrets Manager clients come from the environment (AWS_REGION, credentials,
 * AWS_ENDPOINT_URL_KMS / AWS_ENDPOINT_URL_SECRETS_MANAGER). For the `local` stage with no AWS
 * configuration at all, the local stand-in is started (state in .local/aws/state.json) and
 * bootstrapped with the dev key and clearly fake provider secrets, so local runs encrypt for real.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import type pg from 'pg';
import { protectedByName } from '../../functions/core/protected-stage.ts';
import { SECRET_NAMESPACE_PATTERN } from '../../functions/core/secret-namespace.ts';
import type { ConfirmResult, RotateResult, SeedAwsClients, SeedSummary } from '../../functions/core/seed/index.ts';
import { localActor } from './actor.ts';
import type { DevSeeding } from './dev.ts';
import { connectFrom, ExitCode, integer, json, safetyFrom, targetFrom, type CliIO, type GlobalOptions } from './migrate.ts';

// The seed core (yaml, zod, AWS SDK clients) and pg load inside the actions that need them, so startup
// (`migrator --help`, `migrator up`) does not pay for them.
const seedCore = () => import('../../functions/core/seed/index.ts');

interface StageOptions {
  stage: string;
  seedsDir: string;
  secretNamespace?: string;
}

/** True when the environment points the SDK at some AWS (real or an explicit endpoint). */
export function awsConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return [
    'AWS_ENDPOINT_URL',
    'AWS_ENDPOINT_URL_KMS',
    'AWS_ENDPOINT_URL_SECRETS_MANAGER',
    'AWS_ACCESS_KEY_ID',
    'AWS_PROFILE',
    'AWS_WEB_IDENTITY_TOKEN_FILE',
    'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
    'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  ].some((k) => !!env[k]);
}

/**
 * Runs `fn` with KMS/Secrets Manager clients: from the environment, or (stage `local`, nothing
 * configured) the local stand-in, started for the duration of `fn` and stopped after.
 */
export async function withSeedAws<T>(stage: string, io: CliIO, fn: (aws: SeedAwsClients) => Promise<T>, stateFile?: string, stageKey?: string): Promise<T> {
  if (stage !== 'local' || awsConfigured()) {
    const { createAwsClients } = await seedCore();
    return withClients(createAwsClients(), fn);
  }
  // Dev-only code, loaded only here: never part of a Lambda bundle.
  // The same state file as the standalone stand-in (DEV_STATE_FILE, ignored by git with .local/), so both use one dev key.
  const { startDevStandIn, DEV_STATE_FILE } = await import('../../local/aws-standin/index.ts');
  const { KMSClient } = await import('@aws-sdk/client-kms');
  const { SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
  const file = stateFile ?? DEV_STATE_FILE;
  // The local stage's own key alias (a foreign seeds folder's stages.yaml may name another than alias/migrator-local).
  const { standIn, dev: boot } = await startDevStandIn({ stateFile: file, ...(stageKey?.startsWith('alias/') ? { aliasName: stageKey } : {}) });
  try {
    if (boot.keyCreated) io.err(`Local KMS/Secrets Manager stand-in: created ${boot.aliasName} and fake dev secrets (${file}).\n`);
    const config = { ...standIn.clientConfig(), credentials: { ...standIn.credentials } };
    return await withClients({ kms: new KMSClient(config), secrets: new SecretsManagerClient(config) }, fn);
  } finally {
    await standIn.stop();
  }
}

/** Runs `fn` with `aws`, destroying both clients (their sockets) after. */
async function withClients<T>(aws: SeedAwsClients, fn: (aws: SeedAwsClients) => Promise<T>): Promise<T> {
  try {
    return await fn(aws);
  } finally {
    aws.kms.destroy();
    aws.secrets.destroy();
  }
}

async function withClient<T>(opts: GlobalOptions, io: CliIO, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  if (!opts.databaseUrl) throw new InvalidArgumentError('no database: pass --database-url or set DATABASE_URL.');
  const { connect } = await import('../../functions/core/db.ts');
  const client = await connect(opts.databaseUrl, connectFrom(opts, io));
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number.');
  return n;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

function stageOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--stage <name>', 'stage from <seeds-dir>/stages.yaml (chooses tenants, KMS key, secret prefix)').env('MIGRATOR_STAGE').default('local'))
    .option('--seeds-dir <path>', 'seeds folder (seed.config.yaml, catalog.yaml, stages.yaml, tenants/) of any schema', 'seeds')
    .option(
      '--secret-namespace <name>',
      "this database's segment in generated keys' secret names (<secretPrefix>/tenants/<name>/<slug>/...), so databases seeded from one folder on one stage keep their own secrets",
      secretNamespace,
    );
}

function secretNamespace(value: string): string {
  if (!SECRET_NAMESPACE_PATTERN.test(value)) throw new InvalidArgumentError('expected one path segment of lowercase letters, digits and "-" (at most 63).');
  return value;
}

interface SeedCmdOptions extends StageOptions {
  tenant?: string[];
  plan?: boolean;
  json?: boolean;
  reset?: boolean;
}

async function runSeed(command: 'seed' | 'reseed', opts: GlobalOptions & SeedCmdOptions, io: CliIO): Promise<void> {
  const tenants = opts.tenant ?? [];
  const { formatSummary, loadSeeds, loadStage, seed, ProtectedStageError } = await seedCore();
  // Refuse before connecting or starting anything: a protected stage never reseeds, whoever asks.
  const stage = loadStage(opts.seedsDir, opts.stage);
  if (command === 'reseed' && (stage.protected || protectedByName(stage.name))) {
    throw new ProtectedStageError(stage.name, opts.reset ? 'reseed --reset' : 'reseed');
  }
  // Validate every file before connecting: invalid seeds write nothing, not even a failed-run row.
  const seedSet = loadSeeds({ dir: opts.seedsDir, stage: opts.stage, tenants, displayDir: opts.seedsDir, ...notices(opts, io) });
  const log = opts.verbose ? (line: string) => io.err(`${line}\n`) : undefined;
  const summary = await withClient(opts, io, (client) =>
    withSeedAws(opts.stage, io, async (aws) => {
      const run = (c: pg.ClientBase, runId?: string) =>
        seed(c, {
          stage: opts.stage,
          seedSet,
          secretNamespace: opts.secretNamespace,
          plan: opts.plan,
          reset: opts.reset ? tenants : undefined,
          action: command,
          aws,
          actor: localActor(),
          runId,
          log,
          // The same deadlines as the migrations (and the client-side bound derived from them).
          statementTimeoutMs: opts.statementTimeout,
          lockWaitTimeoutMs: opts.lockWaitTimeout,
          lockTimeoutMs: opts.lockTimeout,
        });
      // A plan writes nothing, not even its run row.
      if (opts.plan) return run(client);
      // As `invoke seed` does: one recorded run that applies pending migrations first (seeds need the schema).
      const { runJob } = await import('../../functions/core/job.ts');
      const job = await runJob({
        target: { ...targetFrom(opts, io), client },
        trigger: 'local',
        stage: opts.stage,
        actor: localActor(),
        command: commandLine(command, opts),
        ...safetyFrom(opts, io),
        seed: (c, runId) => run(c, runId) as unknown as Promise<Record<string, unknown>>,
      });
      return job.seed as unknown as SeedSummary;
    }, undefined, stage.kmsKeyId),
  );
  io.out(opts.json ? json(summary) : `${formatSummary(summary)}\n`);
}

/** One-line notices (the built-in seed model is used) go to stderr, like progress lines. */
const notices = (opts: GlobalOptions, io: CliIO) => (opts.quiet ? {} : { log: (line: string) => io.err(`${line}\n`) });

function commandLine(command: string, opts: SeedCmdOptions): string {
  return [command, ...(opts.tenant ?? []).flatMap((t) => ['--tenant', t]), opts.reset ? '--reset' : '', `--stage ${opts.stage}`].filter(Boolean).join(' ');
}

/** Registers seed, reseed, rotate-key, runs and seed-schema. */
export function registerSeedCommands(program: Command, io: CliIO): void {
  stageOptions(
    program
      .command('seed')
      .description(
        'Apply the seed files (catalog + the stage\'s tenants) idempotently, to the tables the seed model names (<seeds-dir>/seed.config.yaml, ' +
          'or the built-in model of this package\'s schema; checked against the live database first): upserts by natural keys, only changed rows are written, ' +
          'provider keys encrypted with KMS when their secret version changes, inbound API keys generated when a tenant has none. ' +
          'One transaction: on any error nothing is written. Removing an entry from a file never deletes data. ' +
          'Without --plan, pending migrations of --dir (default ./migrations: pass your own folder) are applied first, in the same recorded run; ' +
          '--plan reads the database as it is.',
      )
      .option('--tenant <slug>', 'only this tenant (repeatable); default all of the stage\'s tenants', collect)
      .option('--plan', 'print what would change; write nothing, call no KMS Encrypt')
      .option('--json', 'print the report as JSON (inserted/updated/unchanged per table, keys encrypted, counts)'),
  ).action(async (_o, cmd: Command) => {
    await runSeed('seed', cmd.optsWithGlobals<GlobalOptions & SeedCmdOptions>(), io);
  });

  stageOptions(
    program
      .command('reseed')
      .description(
        'Re-apply the seed of the named tenants (staging). With --reset, first delete their seeded data (the rows the seed model hangs off ' +
          'each tenant and its inbound keys; the tenant row and application data stay) and recreate it. Refused on a protected stage.',
      )
      .requiredOption('--tenant <slug>', 'tenant to reseed (repeatable)', collect)
      .option('--reset', 'delete and recreate the tenant\'s seeded data (only that tenant\'s)')
      .option('--plan', 'print what would change; write nothing')
      .option('--json', 'print the report as JSON'),
  ).action(async (_o, cmd: Command) => {
    await runSeed('reseed', cmd.optsWithGlobals<GlobalOptions & SeedCmdOptions>(), io);
  });

  stageOptions(
    program
      .command('rotate-key')
      .description(
        'Rotate a tenant\'s inbound API key: issue a new key (pending; plaintext only in the tenant\'s secret) and keep the old one valid ' +
          'until --confirm, or until the grace period ends. Run again with --confirm to activate the new key and revoke the old one.',
      )
      .requiredOption('--tenant <slug>', 'tenant whose key to rotate')
      .option('--confirm', 'activate the pending key and revoke the retiring one')
      .option('--grace-hours <n>', 'the old key expires after this many hours even without --confirm', positive)
      .option('--json', 'print the result as JSON'),
  ).action(async (_o, cmd: Command) => {
    const opts = cmd.optsWithGlobals<GlobalOptions & StageOptions & { tenant: string; confirm?: boolean; graceHours?: number; json?: boolean }>();
    const { confirmTenantApiKey, loadModel, loadStage, recordRun, rotateTenantApiKey } = await seedCore();
    const stage = loadStage(opts.seedsDir, opts.stage);
    // The keys table is the model's (tenant.inboundKeys).
    const model = loadModel(opts.seedsDir, notices(opts, io));
    const command = `rotate-key --tenant ${opts.tenant}${opts.confirm ? ' --confirm' : ''} --stage ${stage.name}`;
    const result = await withClient(opts, io, (client) =>
      recordRun(client, { trigger: 'local', stage: stage.name, actor: localActor(), command, runsTable: opts.runsTable }, async (runId) => {
        const r: RotateResult | ConfirmResult = opts.confirm
          ? await confirmTenantApiKey(client, { slug: opts.tenant, actor: localActor(), runId, model })
          : await withSeedAws(stage.name, io, (aws) =>
              rotateTenantApiKey(client, {
                slug: opts.tenant,
                aws,
                kmsKeyId: stage.kmsKeyId,
                secretPrefix: stage.secretPrefix,
                secretNamespace: opts.secretNamespace,
                graceHours: opts.graceHours,
                actor: localActor(),
                runId,
                model,
              }),
              undefined,
              stage.kmsKeyId,
            );
        // Prefixes and expiry only: the plaintext key never reaches the run history.
        const details = 'newPrefix' in r ? { tenant: r.tenant, newPrefix: r.newPrefix } : { tenant: r.tenant, activePrefix: r.activePrefix, revoked: r.revoked };
        return { result: r, fields: { details } };
      }),
    );
    const r = result.result;
    if (opts.json) io.out(json(r));
    else if ('newPrefix' in r) {
      const old = r.retiring.map((k) => `${k.prefix} (${k.expiresAt ? `valid until ${k.expiresAt}` : 'valid until confirmed'})`).join(', ');
      io.out(
        `Tenant ${r.tenant}: new key ${r.newPrefix}... issued (pending); plaintext in secret ${r.secretName}.\n` +
          `Old key ${old || '(none)'} stays valid. Confirm with: migrator rotate-key --tenant ${r.tenant} --confirm --stage ${stage.name}\n`,
      );
    } else io.out(`Tenant ${r.tenant}: key ${r.activePrefix}... is active; revoked ${r.revoked.join(', ') || 'nothing'}.\n`);
  });

  program
    .command('runs')
    .description(
      'The run history (--runs-table, default public.migration_runs), newest first: every state-changing command ' +
        '(up, down, repair, baseline, seed, reseed, rotate-key, dev, deploys and invokes) with actor, outcome and error.',
    )
    .option('--limit <n>', 'how many runs', integer, 20)
    .option('--id <run-id>', 'only this run (the run ids `history` and deploy outputs show)')
    .option('--json', 'print a JSON array of runs (with seed summaries)')
    .action(async (_o, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions & { limit: number; id?: string; json?: boolean }>();
      const { listRuns } = await seedCore();
      const runs = await withClient(opts, io, (client) => listRuns(client, { runsTable: opts.runsTable, limit: opts.limit, id: opts.id }));
      if (opts.json) return void io.out(json(runs));
      if (runs.length === 0 && opts.id) {
        io.err(`No run ${opts.id} in ${opts.runsTable}.\n`);
        throw new ExitCode(1);
      }
      if (runs.length === 0) return void io.out(`No runs recorded in ${opts.runsTable}.\n`);
      for (const r of runs) {
        const s = r.seedSummary as Partial<SeedSummary> | null;
        const seeded = s && typeof s.rowsWritten === 'number' ? `, seed: ${s.rowsWritten} rows written` : '';
        const applied = r.migrationsApplied.length ? `, ${r.migrationsApplied.length} migration(s) applied` : '';
        io.out(
          `${r.startedAt}  ${r.outcome.padEnd(9)} ${r.stage}  ${r.trigger}  ${r.command}  by ${r.actor ?? '-'}${applied}${seeded}${r.durationMs !== null ? ` (${r.durationMs} ms)` : ''}  ${r.id}\n`,
        );
        if (r.error) io.out(`    error: ${r.error}\n`);
      }
    });

  program
    .command('seed-schema')
    .description(
      'Write the JSON Schemas of the seed files (<seeds-dir>/schema/{catalog,tenant,stages}.schema.json, for editors), derived from the ' +
        "folder's seed model (seed.config.yaml, or the built-in one). With --model-schema: the schema of seed.config.yaml itself " +
        "(schema/seed-config.schema.json in this package).",
    )
    .option('--seeds-dir <path>', 'seeds folder', 'seeds')
    .option('--model-schema', 'the schema of seed.config.yaml (in this package) instead of the data files\'')
    .option('--check', 'exit 1 when the files are missing or out of date, write nothing')
    .action(async (opts: { seedsDir: string; check?: boolean; modelSchema?: boolean }) => {
      const { staleJsonSchemas, writeJsonSchemas, seedConfigSchemaStale, writeSeedConfigSchema } = await seedCore();
      if (opts.modelSchema) {
        if (!opts.check) return void io.out(`Wrote ${writeSeedConfigSchema()}\n`);
        if (seedConfigSchemaStale()) {
          io.err('Out of date: schema/seed-config.schema.json (run migrator seed-schema --model-schema)\n');
          throw new ExitCode(1);
        }
        return void io.out('The seed.config.yaml JSON Schema is up to date.\n');
      }
      if (opts.check) {
        const stale = staleJsonSchemas(opts.seedsDir);
        if (stale.length) {
          io.err(`Out of date: ${stale.join(', ')} (run migrator seed-schema)\n`);
          throw new ExitCode(1);
        }
        io.out('Seed JSON Schemas are up to date.\n');
      } else io.out(`Wrote ${writeJsonSchemas(opts.seedsDir).join(', ')}\n`);
    });
}

/**
 * The seed step of `migrator dev` (npm start): seed the local stage from `seedsDir` after migrating,
 * through the stand-in unless AWS is configured. The seed code loads only when the step runs.
 */
export function devSeeding(io: CliIO): DevSeeding {
  let describe: ((summary: SeedSummary) => string) | undefined;
  return {
    step: (seedsDir, options) => async (client, runId) => {
      const { formatSummary, loadStage, seed } = await seedCore();
      describe = formatSummary; // loaded now, so describe (synchronous, called after the seed) can use it
      const notice = options.quiet ? {} : { notice: (line: string) => io.err(`${line}\n`) };
      const key = loadStage(seedsDir, 'local').kmsKeyId;
      return withSeedAws('local', io, async (aws) => seed(client, { stage: 'local', dir: seedsDir, displayDir: seedsDir, aws, runId, actor: localActor(), ...notice }), undefined, key);
    },
    describe: (summary) => (describe ? describe(summary as unknown as SeedSummary).split('\n') : [`Seed: ${JSON.stringify(summary)}`]),
  };
}
