/**
 * What both handlers share: configuration from the environment, where the asset keeps migrations and seeds,
 * and a database connection built from the RDS secret (read at every invocation) with deadlines.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import * as z from 'zod';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { awsClientConfig, bindAbort } from '../core/aws/clients.ts';
import { databaseConfigFromSecret, tlsModeFrom } from '../core/aws/database-secret.ts';
import { connect, describe } from '../core/db.ts';
import { closeRunAsFailed } from '../core/run-history.ts';
import { SECRET_NAMESPACE_PATTERN } from '../core/secret-namespace.ts';
import type { Deadlines } from './deadlines.ts';

const flag = z
  .enum(['true', 'false'])
  .default('false')
  .transform((v) => v === 'true');
const ms = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/**
 * How a function reaches and bounds its database: TLS and the per-invocation timeouts (milliseconds).
 * Shared by the migrator functions and the fleet worker, which the constructs configure alike.
 */
export const DATABASE_ENV = {
  /** `verify-full` (default) or `off` (local deploy simulation only: PostgreSQL without TLS). */
  DB_TLS: z.string().optional(),
  /** Optional PEM bundle (e.g. the RDS global bundle) instead of NODE_EXTRA_CA_CERTS. */
  RDS_CA_FILE: z.string().optional(),
  CONNECT_TIMEOUT_MS: ms(60_000),
  LOCK_WAIT_TIMEOUT_MS: ms(120_000),
  LOCK_TIMEOUT_MS: ms(10_000),
  STATEMENT_TIMEOUT_MS: ms(600_000),
};

/** Environment the construct sets (see infra/database-migrations.ts). */
const Env = z.object({
  STAGE: z.string().min(1),
  PROTECTED_STAGE: flag,
  DB_SECRET_ARN: z.string().min(1),
  ...DATABASE_ENV,
  /** Stage key for seeds (overrides stages.yaml's kmsKeyId). */
  KMS_KEY_ARN: z.string().optional(),
  SEEDS_ENABLED: flag,
  /** Where migrations/, seeds/ and asset-manifest.json are; default the bundle's own directory. */
  ASSET_DIR: z.string().optional(),
  MIGRATIONS_TABLE: z.string().optional(),
  /** Run-history table (`schema.table`); default public.migration_runs. */
  RUNS_TABLE: z.string().optional(),
  /** This database's segment in new tenant API-key secret names (DatabaseMigrations' secretNamespace). */
  TENANT_SECRET_NAMESPACE: z.string().regex(SECRET_NAMESPACE_PATTERN).optional(),
});
export type HandlerEnv = z.output<typeof Env>;

export function readEnv(env: NodeJS.ProcessEnv = process.env): HandlerEnv {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.')))].join(', ');
    throw new Error(`Migrator function misconfigured: bad or missing environment variable(s) ${fields}`);
  }
  return parsed.data;
}

export interface AssetManifest {
  contentHash: string;
  migrations: string[];
  compiled: string[];
  seeds: string[];
}

export interface AssetLayout {
  dir: string;
  migrationsDir: string;
  seedsDir: string;
  manifest: AssetManifest;
}

/** The bundle is one file at the asset root, so its own directory is the asset. */
function bundleDir(): string {
  return dirname(fileURLToPath(import.meta.url));
}

export function assetLayout(env: HandlerEnv): AssetLayout {
  const dir = env.ASSET_DIR ?? bundleDir();
  const manifestFile = join(dir, 'asset-manifest.json');
  if (!existsSync(manifestFile)) throw new Error(`Migrator asset is incomplete: ${manifestFile} is missing (was it bundled by DatabaseMigrations?)`);
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as AssetManifest;
  return { dir, migrationsDir: join(dir, 'migrations'), seedsDir: join(dir, 'seeds'), manifest };
}

export type Logish = Pick<import('@aws-lambda-powertools/logger').Logger, 'info' | 'warn'>;

/** What identifies and bounds one invocation's connection. */
export interface RunSession {
  /** Shown as `application_name` (`migrator:<runId>`), so pg_stat_activity and a lock-holder message say which run. */
  runId: string;
  /** The hard stop: aborts the secret read in flight. */
  signal?: AbortSignal;
  /** Fewer connect attempts than the deadlines allow (the rollback path only tries once). */
  retries?: number;
}

/** Session settings every invocation's connection starts with (before its first statement). */
export function sessionSettings(deadlines: Deadlines): Record<string, number> {
  return {
    statement_timeout: deadlines.statementTimeoutMs,
    lock_timeout: deadlines.lockTimeoutMs,
    idle_in_transaction_session_timeout: deadlines.idleInTransactionTimeoutMs,
    // Server-side keepalive (seconds): a client that vanished without closing (a cut network, a frozen
    // sandbox) is noticed within about a minute, its session ends and its locks go with it.
    tcp_keepalives_idle: 30,
    tcp_keepalives_interval: 10,
    tcp_keepalives_count: 3,
  };
}

/**
 * Connects with the secret's credentials, TLS as configured, the connect budget of `deadlines` and the
 * session deadlines from the first statement on. The secret read is bounded by the AWS budget and the hard stop.
 */
export async function connectFromSecret(
  env: HandlerEnv,
  deadlines: Deadlines,
  log: Logish,
  run: RunSession,
): Promise<{ client: pg.Client; config: pg.ClientConfig }> {
  const budget = { ...deadlines.aws, signal: run.signal };
  const secrets = bindAbort(new SecretsManagerClient(awsClientConfig(budget)), run.signal);
  let config: pg.ClientConfig;
  try {
    config = await databaseConfigFromSecret({
      secretId: env.DB_SECRET_ARN,
      client: secrets,
      budget,
      tls: tlsModeFrom(env.DB_TLS),
      caFile: env.RDS_CA_FILE,
    });
  } finally {
    secrets.destroy();
  }
  log.info('connecting', { database: describe(config), tls: config.ssl ? 'verify-full' : 'off' });
  const client = await connect(config, {
    connectTimeoutMs: deadlines.connectTimeoutMs,
    retries: run.retries ?? deadlines.connectRetries,
    initialDelayMs: deadlines.connectInitialDelayMs,
    maxDelayMs: deadlines.connectMaxDelayMs,
    applicationName: `migrator:${run.runId}`,
    sessionSettings: sessionSettings(deadlines),
    onRetry: ({ attempt, delayMs, error }) => log.warn('connect failed, retrying', { attempt, delayMs, error: error.message }),
  });
  // `config` holds the password: it stays in memory for the watchdog's cancel connection, never in a log.
  return { client, config };
}

/** The run a lost session could not close, as its row should read. */
export interface LostRun {
  runId: string;
  trigger: 'deploy' | 'invoke';
  stage: string;
  actor: string;
  command: string;
  message: string;
  /** Deploy runs: the fingerprint the rollback check reads from the run history. */
  fingerprint?: import('../core/run-history.ts').DeployFingerprint;
}

/**
 * After a failure whose session was cut (the watchdog destroyed the socket, the server went away), the job
 * could not close its run row (or, on a first deploy, insert it): write it as failed on a fresh, short
 * connection, so no row stays `running`. Best effort and bounded (one attempt, 2 s); a closed row is kept.
 */
export async function closeLostRun(config: pg.ClientConfig, run: LostRun, runsTable?: string): Promise<boolean> {
  let client: pg.Client | undefined;
  try {
    client = await connect(config, { connectTimeoutMs: 2_000, retries: 0, applicationName: `migrator:${run.runId}:close`, sessionSettings: { statement_timeout: 2_000, lock_timeout: 1_000 } });
    return await closeRunAsFailed(client, { ...run, runsTable });
  } catch {
    return false;
  } finally {
    await client?.end().catch(() => {});
  }
}

/** Configured timeouts as the deadline calculator wants them. */
export function configuredTimeouts(env: HandlerEnv) {
  return {
    connectMs: env.CONNECT_TIMEOUT_MS,
    lockWaitMs: env.LOCK_WAIT_TIMEOUT_MS,
    lockTimeoutMs: env.LOCK_TIMEOUT_MS,
    statementMs: env.STATEMENT_TIMEOUT_MS,
  };
}
