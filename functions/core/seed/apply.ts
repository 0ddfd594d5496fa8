/**
 * Applies a seed set to a database, for any schema the seed model describes: upserts by natural keys
 * with change detection, provider secrets encrypted through KMS, generated keys and inbound API keys
 * created when missing. The steps live in apply/ (one job each); this file orders them.
 *
 * Transaction unit: the whole run (catalog and every selected tenant) is ONE transaction, serialized
 * with other seeders and rotate-key by the seed lock (apply/lock.ts: a row lock only the migrator role
 * can take). Any failure (bad secret, KMS error, constraint, a value that does not cast) rolls
 * everything back, so the database is exactly as it was. Effects outside the database are generated
 * keys' secrets; if the commit then fails, the next run overwrites them (the database decides which keys
 * are valid).
 *
 * Before anything is written (plan and apply alike) the model is checked against the live database
 * (apply/live-schema.ts), and every value is cast to its column's type by the diff (apply/diff.ts).
 * Write order follows refs (model.ts writeOrder). An unchanged seed writes no row and makes no KMS call
 * (secret versions come from DescribeSecret, which reads no value).
 */
import type pg from 'pg';
import type { SeedSet } from './load.ts';
import type { SeedAwsClients } from './aws.ts';
import { pushTo } from './pool.ts';
import { currentSecretVersions, readProviderKey, type SecretUse } from './llm-keys.ts';
import { SeedError } from './errors.ts';
import { DEFAULT_SAFETY } from '../migrate/types.ts';
import { allSections, modelTables, writeOrder } from './model.ts';
import type { SeedSummary } from './report.ts';
import { Tracker } from './apply/tracker.ts';
import { checkLiveSchema } from './apply/live-schema.ts';
import { takeSeedLock } from './apply/lock.ts';
import { applySection } from './apply/section.ts';
import { resetTenants } from './apply/reset.ts';
import { applyInboundKeys } from './apply/inbound-keys.ts';
import { writeAudit } from './apply/audit.ts';
import { verificationCounts } from './apply/counts.ts';
import { leafUses } from './apply/secret-leaves.ts';
import type { RunContext } from './apply/context.ts';

export { verificationCounts };
export { SEED_LOCK_TABLE } from './apply/lock.ts';

export interface ApplyOptions {
  /** Compute and report only: read-only transaction, no KMS Encrypt, no secret written. */
  plan?: boolean;
  /** Slugs whose seeded rows (every tenant section, inbound keys, generated keys) are deleted and recreated. */
  reset?: readonly string[];
  /** KMS and Secrets Manager clients. Needed unless no tenant has provider secrets or keys to generate. */
  aws?: SeedAwsClients;
  /** Overrides the stage's kmsKeyId (e.g. the key ARN the CDK stack passes). */
  kmsKeyId?: string;
  /** Overrides the stage's secretPrefix. */
  secretPrefix?: string;
  /**
   * This database's segment in new tenant key secret names (`<prefix>/tenants/<namespace>/<slug>/api-key`);
   * keys already stored keep their names. Default none: `<prefix>/tenants/<slug>/api-key`.
   */
  secretNamespace?: string;
  /** Concurrent AWS calls; default 16. */
  concurrency?: number;
  /** Who runs the seed, for the audit rows; default 'migrator'. */
  actor?: string;
  /** How long to wait for another seed run's lock before failing; default 60 000 ms. */
  lockWaitTimeoutMs?: number;
  /** lock_timeout for the seed's statements (rows the application holds); default 10 000 ms. */
  lockTimeoutMs?: number;
  /** statement_timeout for the seed's statements; default 600 000 ms. */
  statementTimeoutMs?: number;
  /** Run id (migration_runs.id), recorded in the audit rows' context. */
  runId?: string;
  /** Progress lines (never contain secrets). */
  log?: (line: string) => void;
}

/** Secret name -> tenants using it, and where it is first named: provider secrets and secret leaves of the selected tenants. */
function namedSecrets(set: SeedSet): { users: Map<string, string[]>; uses: Map<string, SecretUse> } {
  const users = new Map<string, string[]>();
  const uses = new Map<string, SecretUse>();
  const sections = allSections(set.model).filter((s) => s.tenant);
  const base = set.displayDir ? `${set.displayDir.replace(/\/+$/, '')}/` : '';
  const use = (name: string, entry: object, path: (string | number)[], jsonField: string) => {
    if (uses.has(name)) return;
    uses.set(name, {
      jsonField,
      // Computed on the error path only (it may re-read the file for the line).
      where: () => {
        const o = set.origin.get(entry);
        if (!o) return '';
        const line = set.lineAt?.(o.file, [...o.at, ...path]) ?? o.line;
        const p = [...o.at, ...path].reduce<string>((out, k) => (typeof k === 'number' ? `${out}[${k}]` : out ? `${out}.${k}` : k), '');
        return `${base}${o.file}${line ? `:${line}` : ''} ${p}`;
      },
    });
  };
  const visit = (slug: string, s: (typeof sections)[number], entries: readonly Record<string, unknown>[]) => {
    for (const e of entries) {
      for (const f of s.fields) {
        const v = e[f.name];
        if (f.providerSecret && typeof v === 'string') {
          pushTo(users, v, slug);
          use(v, e, [f.name], f.providerSecret.jsonField);
        }
        if (f.json?.secretLeaves && v) {
          for (const leaf of leafUses(v)) {
            pushTo(users, leaf.secret, slug);
            use(leaf.secret, e, [f.name, ...leaf.path], leaf.jsonField);
          }
        }
      }
      for (const c of s.children) visit(slug, c, (e[c.path.at(-1)!] ?? []) as Record<string, unknown>[]);
    }
  };
  for (const t of set.tenants) visit(t.slug, set.model.tenant, [t]);
  for (const list of users.values()) list.splice(0, list.length, ...new Set(list));
  return { users, uses };
}

/** Whether the run may need AWS (a provider secret, a key to generate). */
function needsAws(set: SeedSet, secrets: ReadonlyMap<string, unknown>): boolean {
  if (secrets.size > 0) return true;
  const ik = set.model.inboundKeys;
  if (ik && set.tenants.some((t) => t[ik.field] !== false)) return true;
  return allSections(set.model).some((s) => s.fields.some((f) => f.generated));
}

/**
 * Applies `set` on `client` (a connected client NOT inside a transaction; the seeder opens and ends
 * its own). Returns the report; throws SeedError / SeedValidationError (or a pg error) after rolling back.
 */
export async function applySeed(client: pg.ClientBase, set: SeedSet, options: ApplyOptions = {}): Promise<SeedSummary> {
  const started = Date.now();
  const plan = options.plan ?? false;
  const log = options.log ?? (() => {});
  const model = set.model;
  const tables = modelTables(model);
  const tracker = new Tracker(tables);
  let mark = Date.now();
  const phase = (name: string) => {
    const now = Date.now();
    log(`${name}: ${now - mark} ms`);
    mark = now;
  };
  const resetSlugs = new Set(options.reset ?? []);
  for (const slug of resetSlugs) {
    if (!set.tenants.some((t) => t.slug === slug)) throw new SeedError(`Cannot reset tenant "${slug}": it is not part of this seed run.`, { tenant: slug });
  }
  const kmsKeyId = options.kmsKeyId ?? set.stage.kmsKeyId;
  const concurrency = options.concurrency ?? 16;
  const { users: secretUsers, uses: secretUses } = namedSecrets(set);
  const aws = options.aws;
  if (needsAws(set, secretUsers) && !aws) throw new SeedError('This seed needs KMS and Secrets Manager clients (options.aws).');

  // The model against the live database first (outside the transaction: catalog reads only).
  const live = await checkLiveSchema(client, model);

  // Secret versions depend only on the seed files: look them up (AWS) while the database work runs.
  const versionsPromise = aws && secretUsers.size > 0 ? currentSecretVersions(aws, secretUsers, { concurrency, uses: secretUses }) : Promise.resolve(new Map<string, string>());
  versionsPromise.catch(() => {}); // awaited below; a failure surfaces there (or the run failed earlier)

  const values = new Map<string, Promise<string>>();
  const ctx: RunContext = {
    client,
    plan,
    set,
    live,
    tracker,
    ...(aws ? { aws } : {}),
    kmsKeyId,
    // A stage key given as a key ARN (the deploy passes one) is compared with the stored ARN, so moving
    // to a new key re-encrypts; an alias would need a DescribeKey call, which an unchanged run avoids.
    ...(/^arn:aws[\w-]*:kms:[^:]+:\d+:key\//.test(kmsKeyId) ? { keyArn: kmsKeyId } : {}),
    secretPrefix: options.secretPrefix ?? set.stage.secretPrefix,
    ...(options.secretNamespace ? { secretNamespace: options.secretNamespace } : {}),
    concurrency,
    log,
    versions: new Map(),
    secretUsers,
    rowId: new WeakMap(),
    refIds: new Map(),
    items: new Map(),
    resetIds: new Set(),
    secretsWritten: [],
    keys: { encrypted: 0, unchanged: 0, inboundCreated: 0 },
    secretValue(name, version, jsonField) {
      const k = `${name}@${version}#${jsonField}`;
      let p = values.get(k);
      if (!p) {
        p = readProviderKey(aws!, name, version, secretUsers.get(name) ?? [], jsonField, secretUses.get(name));
        values.set(k, p);
        p.catch(() => {}); // awaited by each user; avoid an unhandled rejection for shared secrets
      }
      return p;
    },
    now: new Date().toISOString(),
  };

  await client.query(plan ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN');
  try {
    // Deadlines, so a deploy never waits forever on a lock (set_config local: they end with the transaction).
    const ms = (v: number | undefined, d: number) => `${Math.max(0, Math.floor(v ?? d))}ms`;
    await client.query(`SELECT set_config('statement_timeout', $1, true)`, [ms(options.statementTimeoutMs, DEFAULT_SAFETY.statementTimeoutMs)]);
    if (!plan) await takeSeedLock(client, options.lockWaitTimeoutMs ?? DEFAULT_SAFETY.lockWaitTimeoutMs);
    await client.query(`SELECT set_config('lock_timeout', $1, true)`, [ms(options.lockTimeoutMs, DEFAULT_SAFETY.lockTimeoutMs)]);

    await resetTenants(ctx, [...resetSlugs]);
    ctx.versions = await versionsPromise;
    phase('secret versions');
    let catalogDone = false;
    for (const s of writeOrder(model)) {
      if (s.tenant && !catalogDone) {
        phase('catalog');
        catalogDone = true;
      }
      await applySection(ctx, s);
      if (s.tenant) phase(s.where);
    }
    await applyInboundKeys(ctx);
    phase('inbound keys');
    await writeAudit(ctx, { actor: options.actor ?? 'migrator', reset: resetSlugs, ...(options.runId ? { runId: options.runId } : {}) });
    const counts = await verificationCounts(client, model);
    await client.query(plan ? 'ROLLBACK' : 'COMMIT');
    phase('audit, counts and commit');
    return {
      stage: set.stage.name,
      mode: plan ? 'plan' : 'apply',
      tenants: set.tenants.map((t) => t.slug),
      reset: [...resetSlugs],
      tables: tracker.tables,
      keys: ctx.keys,
      rowsWritten: plan ? 0 : tracker.rowsWritten(),
      counts,
      changes: tracker.changes,
      changesOmitted: tracker.omitted,
      durationMs: Date.now() - started,
    };
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    if (resetSlugs.size > 0 && ctx.secretsWritten.length > 0 && e instanceof Error) {
      // A reset replaces keys tenants already had: their new plaintext is in Secrets Manager while the
      // rollback brought the old hashes back, so those secrets no longer match the database.
      e.message += ` The reset had already written new keys to ${ctx.secretsWritten.join(', ')}; the database still holds the old ones, so run the same reseed --reset again before clients read those secrets.`;
    }
    throw e;
  }
}
