/**
 * Named targets: the one definition of "a database with its migrations (and seeds)", read from a config
 * file (`migrator.config.yaml|yml|json`, in the working directory or given with `--config`). Data only,
 * no code to execute; validated with zod; JSON Schema for editors in schema/migrator.config.schema.json.
 *
 * A target names the environment variable holding its database URL, never the password itself: a `url`
 * with credentials (or a `password=` parameter) is refused. Stage facts (protection, keys) stay in the
 * seeds folder's stages.yaml; a target only says which stage it is.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { MigratorError } from '../errors.ts';
import { readInputFile } from '../input-file.ts';
import { parseSeedText } from '../seed/yaml-file.ts';
import type { MigrationTarget } from '../migrate/types.ts';

/** File names looked for in the working directory, in this order. */
export const CONFIG_FILES = ['migrator.config.yaml', 'migrator.config.yml', 'migrator.config.json'];

const NAME = /^[a-z][a-z0-9_-]{0,62}$/;
const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;

/**
 * A URL without credentials: host, port, database and options may be written down; user and password come
 * from PGUSER / PGPASSWORD or ~/.pgpass. (The shared reader refuses any `scheme://...@` value as a secret.)
 */
const PasswordlessUrl = z
  .string()
  .refine((v) => URL.canParse(v) && /^postgres(ql)?:$/.test(new URL(v).protocol), 'expected a postgres:// URL')
  .refine((v) => !URL.canParse(v) || (new URL(v).username === '' && new URL(v).password === '' && !new URL(v).searchParams.has('password')),
    'must not contain credentials: put the URL in an environment variable and name it in databaseUrlEnv (or use PGUSER, PGPASSWORD / ~/.pgpass)');

export const TargetSchema = z
  .strictObject({
    databaseUrlEnv: z.string().regex(ENV_NAME, 'an environment variable name (A-Z, 0-9, _)').optional()
      .describe('Environment variable holding the database URL (with its password), e.g. AUTH_DATABASE_URL.'),
    url: PasswordlessUrl.optional()
      .describe('Database URL without user or password (they come from PGUSER, PGPASSWORD or ~/.pgpass). Prefer databaseUrlEnv.'),
    migrations: z.string().min(1).default('migrations').describe('Migrations folder, relative to the config file.'),
    migrationsTable: z.string().min(1).max(63).default('pgmigrations')
      .describe("node-pg-migrate's table; checksums go to <table>_checksums."),
    migrationsSchema: z.string().min(1).max(63).default('public').describe('Schema of the migrations table.'),
    seeds: z.string().min(1).optional().describe('Seeds folder (catalog.yaml, stages.yaml, tenants/), relative to the config file.'),
    stage: z.string().regex(/^[a-z][a-z0-9-]{0,29}$/, 'stage names are lowercase').optional()
      .describe('Stage of this database (its facts live in the seeds folder\'s stages.yaml).'),
  })
  .refine((t) => !(t.databaseUrlEnv && t.url), { message: 'give databaseUrlEnv or url, not both', path: ['url'] })
  .describe('One database: where its URL comes from, its migrations folder and table, its seeds and stage.');

export const ConfigSchema = z
  .strictObject({
    $schema: z.string().optional(),
    targets: z
      .record(z.string().regex(NAME, 'target names are lowercase letters, digits, - and _'), TargetSchema)
      .refine((r) => Object.keys(r).length > 0, 'name at least one target'),
  })
  .describe('migrator.config.yaml: named targets for `migrator --target NAME` and `--all`.');

/** A named target from the config file, folders resolved against the config file's folder. */
export interface Target {
  /** The target's name (`--target NAME`). */
  name: string;
  /** Environment variable holding the database URL, if the target names one. */
  databaseUrlEnv?: string;
  /** A password-less database URL, if the target gives one. */
  url?: string;
  /** Absolute path of the migrations folder. */
  migrations: string;
  migrationsTable: string;
  migrationsSchema: string;
  /** Absolute path of the seeds folder, if any. */
  seeds?: string;
  stage?: string;
}

export interface TargetsConfig {
  /** Absolute path of the config file. */
  file: string;
  /** Targets in the file's order. */
  targets: Target[];
}

/** The config file: the one given, or the first of {@link CONFIG_FILES} in `cwd`; undefined when none. */
export function findConfigFile(cwd: string, given?: string): string | undefined {
  if (given) return resolve(cwd, given);
  return CONFIG_FILES.map((f) => join(cwd, f)).find((f) => existsSync(f));
}

/** Read and validate a config file. Throws MigratorError naming the file, field and line at fault. */
export function loadTargetsConfig(file: string): TargetsConfig {
  const dir = dirname(file);
  const text = readInputFile(dir, basename(file), { maxBytes: 256 * 1024, display: file });
  // JSON is YAML: one strict parser (duplicate keys and syntax errors refused) for both.
  const parsed = parseSeedText(file, text, ConfigSchema);
  if (!parsed.value) {
    const lines = parsed.issues.map((i) => `${file}${i.line ? `:${i.line}` : ''}: ${i.path ? `${i.path}: ` : ''}${i.message}`);
    // The shared parser refuses secrets in any field before validating (and never shows them).
    const hint = parsed.issues.some((i) => /(^|\.)url$/.test(i.path))
      ? '\nA target names the environment variable holding its URL (databaseUrlEnv); a url in the file may not hold a password.'
      : '';
    throw new MigratorError(`Invalid config file:\n  ${lines.join('\n  ')}${hint}`);
  }
  const targets = Object.entries(parsed.value.targets).map(([name, t]): Target => ({
    name,
    ...(t.databaseUrlEnv ? { databaseUrlEnv: t.databaseUrlEnv } : {}),
    ...(t.url ? { url: t.url } : {}),
    migrations: resolve(dir, t.migrations),
    migrationsTable: t.migrationsTable,
    migrationsSchema: t.migrationsSchema,
    ...(t.seeds ? { seeds: resolve(dir, t.seeds) } : {}),
    ...(t.stage ? { stage: t.stage } : {}),
  }));
  return { file, targets };
}

/**
 * The targets a command runs on: `--target NAME` (one), `--all` (every one), or, with neither, the only
 * target of a one-target file. Several targets and no choice is an error listing them.
 */
export function selectTargets(config: TargetsConfig, choice: { target?: string; all?: boolean }): Target[] {
  const names = config.targets.map((t) => t.name);
  if (choice.target !== undefined) {
    const found = config.targets.find((t) => t.name === choice.target);
    if (!found) throw new MigratorError(`Unknown target "${choice.target}": ${config.file} names ${names.join(', ')}.`);
    return [found];
  }
  if (choice.all || config.targets.length === 1) return config.targets;
  throw new MigratorError(`${config.file} names ${names.length} targets (${names.join(', ')}): pass --target NAME, or --all where the command allows it.`);
}

/** The database URL of a target: its env variable (which must be set), its url, or undefined (use --database-url). */
export function databaseUrlOf(target: Target, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (target.databaseUrlEnv) {
    const value = env[target.databaseUrlEnv];
    if (!value) throw new MigratorError(`Target "${target.name}" reads its database URL from ${target.databaseUrlEnv}, which is not set.`);
    return value;
  }
  return target.url;
}

/** What the engine needs from a target. */
export function migrationTargetOf(target: Target, env: NodeJS.ProcessEnv = process.env): MigrationTarget {
  return {
    databaseUrl: databaseUrlOf(target, env),
    dir: target.migrations,
    migrationsTable: target.migrationsTable,
    migrationsSchema: target.migrationsSchema,
  };
}

/** The JSON Schema of the config file, for editors (written to schema/migrator.config.schema.json). */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' });
}
