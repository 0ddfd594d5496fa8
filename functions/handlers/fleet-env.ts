/** Environment of the fleet functions, set by DatabaseFleetMigrations (infra/fleet/database-fleet-migrations.ts). */
import * as z from 'zod';
import { DATABASE_ENV } from './runtime.ts';

const csv = z
  .string()
  .optional()
  .transform((v) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : []));

const Worker = z.object({
  STAGE: z.string().min(1),
  LEDGER_TABLE: z.string().min(1),
  ...DATABASE_ENV,
  ASSET_DIR: z.string().optional(),
  MIGRATIONS_TABLE: z.string().optional(),
  RUNS_TABLE: z.string().optional(),
  LEDGER_RETENTION_DAYS: z.coerce.number().int().positive().default(90),
  /** Where long-running migrations run: `codebuild` (the fleet's project), `off` (longRunning: false). */
  LONG_RUNNING: z.enum(['codebuild', 'off']).default('codebuild'),
  /** Seed every target after its migrations (the fleet's seedsDir). */
  SEEDS_ENABLED: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  /** `all` of the stage's tenants, or only the tenant named like the target. */
  SEED_TENANTS: z.enum(['all', 'target']).default('all'),
  /** Stage key for the seeds (overrides stages.yaml's kmsKeyId). */
  KMS_KEY_ARN: z.string().optional(),
});

/**
 * The CodeBuild runner (`node build.mjs up`): the worker's environment set on the project, plus the target
 * the state machine passes per build (environment overrides) and the build's time budget.
 */
const Build = Worker.extend({
  TARGET_NAME: z.string().min(1),
  TARGET_SECRET_ID: z.string().min(1),
  EXECUTION_ID: z.string().min(1),
  WAVE: z.enum(['canary', 'rest']),
  TRIGGER: z.enum(['deploy', 'invoke', 'local']).default('invoke'),
  /** What the run may use: the project's timeout minus the provisioning and install phases' margin. */
  BUILD_BUDGET_MS: z.coerce.number().int().positive(),
  /** Set by CodeBuild itself. */
  CODEBUILD_BUILD_ID: z.string().optional(),
});

const List = z.object({
  STAGE: z.string().min(1),
  /** JSON array of {name, secretId}. */
  TARGETS_STATIC: z.string().default('[]'),
  TARGET_SECRET_PREFIX: z.string().optional(),
  TARGET_TAG_KEY: z.string().optional(),
  TARGET_TAG_VALUE: z.string().optional(),
  TARGET_NAME_TAG: z.string().optional(),
  CANARY_NAMES: csv,
  CANARY_COUNT: z.coerce.number().int().min(0).default(1),
  /** Bucket the wave lists are written to (the Maps' ItemReader). */
  TARGETS_BUCKET: z.string().optional(),
});

const Summary = z.object({
  STAGE: z.string().min(1),
  LEDGER_TABLE: z.string().min(1),
  FLEET_NAME: z.string().min(1),
});

const Deploy = z.object({
  STAGE: z.string().min(1),
  STATE_MACHINE_ARN: z.string().min(1),
  LEDGER_TABLE: z.string().min(1),
});

function parse<T extends z.ZodType>(schema: T, which: string, env: NodeJS.ProcessEnv): z.output<T> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.')))].join(', ');
    throw new Error(`Fleet ${which} function misconfigured: bad or missing environment variable(s) ${fields}`);
  }
  return parsed.data;
}

export const workerEnv = (env = process.env) => parse(Worker, 'worker', env);
export const buildEnv = (env = process.env) => parse(Build, 'long-running build', env);
export const listEnv = (env = process.env) => parse(List, 'list-targets', env);
export const summaryEnv = (env = process.env) => parse(Summary, 'summary', env);
export const deployEnv = (env = process.env) => parse(Deploy, 'deploy', env);
export type WorkerEnv = ReturnType<typeof workerEnv>;
