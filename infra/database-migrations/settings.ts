/**
 * `DatabaseMigrations`' props checked and resolved: bad props fail the synth naming the construct and the
 * prop, defaults are filled in, and two constructs whose tenant secrets would collide are refused.
 */
import type { Duration } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { protectedByName } from '../../functions/core/protected-stage.ts';
import { SECRET_NAMESPACE_PATTERN } from '../../functions/core/secret-namespace.ts';
import { MIGRATION_DEFAULTS, type DatabaseMigrationsProps, type RunOn } from './props.ts';

/** The props as the construct uses them: folders absolute, defaults applied. */
export interface Settings {
  readonly migrationsDir: string;
  readonly seedsDir?: string;
  readonly runOn: RunOn;
  readonly protectedStage: boolean;
  /** Every deadline, defaults filled in. */
  readonly timeouts: { readonly [K in 'function' | 'connect' | 'lockWait' | 'lock' | 'statement']: Duration };
  readonly tenantPrefix: string;
  readonly providerPrefix: string;
}

/** Check `props` (throws naming `c`'s path and the prop) and resolve them. */
export function settingsOf(c: Construct, props: DatabaseMigrationsProps): Settings {
  const migrationsDir = absolute(props.migrationsDir);
  const seedsDir = props.seedsDir ? absolute(props.seedsDir) : undefined;
  if (!existsSync(migrationsDir)) throw new Error(`DatabaseMigrations ${c.node.path}: migrationsDir ${migrationsDir} does not exist`);
  if (seedsDir && !existsSync(seedsDir)) throw new Error(`DatabaseMigrations ${c.node.path}: seedsDir ${seedsDir} does not exist`);

  validateProps(c.node.path, props);
  claimSecretNames(c, props.tenantSecretPrefix ?? `migrator/${props.stage}/tenants/`, props.secretNamespace);
  const runOn: RunOn = props.runOn ?? 'every-deploy';
  const protectedStage = props.protectedStage ?? protectedByName(props.stage);
  const t = { ...MIGRATION_DEFAULTS, ...dropUndefined(props.timeouts ?? {}) };
  const tenantPrefix = props.tenantSecretPrefix ?? `migrator/${props.stage}/tenants/`;
  const providerPrefix = props.providerSecretPrefix ?? `migrator/${props.stage}/llm/`;
  return { migrationsDir, seedsDir, runOn, protectedStage, timeouts: t, tenantPrefix, providerPrefix };
}

/** Bad props fail the synth with a message naming the construct and the prop. */
function validateProps(path: string, props: DatabaseMigrationsProps) {
  const fail = (msg: string) => {
    throw new Error(`DatabaseMigrations ${path}: ${msg}`);
  };
  if (!/^[a-z][a-z0-9-]{0,31}$/.test(props.stage)) fail(`stage "${props.stage}" must be lowercase letters, digits and dashes (it goes into names and secret prefixes)`);
  if (props.runOn && !['every-deploy', 'content-change'].includes(props.runOn)) fail(`runOn "${props.runOn}" must be 'every-deploy' or 'content-change'`);
  const t = props.timeouts ?? {};
  const fn = (t.function ?? MIGRATION_DEFAULTS.function).toSeconds();
  if (fn > 900) fail(`timeouts.function is ${fn} s; a Lambda invocation ends at 900 s (longer work needs an async isComplete handler)`);
  if (fn < 60) fail(`timeouts.function is ${fn} s; at least 60 s are needed to connect, migrate and answer CloudFormation`);
  for (const k of ['connect', 'lockWait', 'lock', 'statement'] as const) {
    const v = t[k];
    if (v && v.toSeconds() >= fn) fail(`timeouts.${k} (${v.toSeconds()} s) must be shorter than timeouts.function (${fn} s)`);
  }
  if (props.secretNamespace !== undefined && !SECRET_NAMESPACE_PATTERN.test(props.secretNamespace)) {
    fail(`secretNamespace "${props.secretNamespace}" must be lowercase letters, digits and dashes (one segment of a secret name)`);
  }
  for (const [k, v] of [['tenantSecretPrefix', props.tenantSecretPrefix], ['providerSecretPrefix', props.providerSecretPrefix]] as const) {
    if (v !== undefined && (!v.endsWith('/') || v.includes('*'))) fail(`${k} "${v}" must end with "/" and contain no wildcard`);
  }
}

/** Tenant secret names claimed per app: `<prefix>|<namespace>` -> construct path. */
const claimedSecretNames = new WeakMap<Construct, Map<string, string>>();

/** Two constructs of one app whose tenant API-key secrets would have the same names fail the synth. */
function claimSecretNames(c: Construct, tenantPrefix: string, namespace: string | undefined) {
  const root = c.node.root;
  const claimed = claimedSecretNames.get(root) ?? new Map<string, string>();
  claimedSecretNames.set(root, claimed);
  const key = `${tenantPrefix}|${namespace ?? ''}`;
  const other = claimed.get(key);
  if (other) {
    throw new Error(
      `DatabaseMigrations ${c.node.path}: its tenant API-key secrets would have the same names as those of ${other} ` +
        `(${tenantPrefix}${namespace ? `${namespace}/` : ''}<slug>/api-key), so seeding one database would overwrite the other's keys. ` +
        'Give one of them a distinct secretNamespace (or tenantSecretPrefix); keep the existing one unchanged so its stored keys keep their names.',
    );
  }
  claimed.set(key, c.node.path);
}

function absolute(p: string) {
  return isAbsolute(p) ? p : resolve(process.cwd(), p);
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
