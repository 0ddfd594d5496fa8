/**
 * Explicit rotation of a tenant's inbound API key. Two steps, so no client is locked out:
 *   1. rotate: a new key is issued (status 'pending', valid at once, plaintext in the tenant's secret as
 *      its new AWSCURRENT version); the old key becomes 'retiring' and stays valid until step 2 or, when
 *      a grace period is given, until `expires_at`.
 *   2. confirm: the pending key becomes 'active'; retiring keys are revoked.
 * A key is valid for the application when status is active, pending or retiring and expires_at is
 * null or in the future. Allowed on protected stages: rotating is not destructive.
 */
import type pg from 'pg';
import type { SeedAwsClients } from './aws.ts';
import { apiKeySecretName, generateKey, storeApiKeySecret } from './api-keys.ts';
import { SeedError } from './errors.ts';
import { DEFAULT_SAFETY } from '../migrate/types.ts';
import { takeSeedLock } from './apply/lock.ts';
import { builtinModel } from './model-load.ts';
import type { InboundKeysSpec, SeedModel } from './model.ts';
import { qIdent, qTable } from './sql.ts';

export interface RotateOptions {
  slug: string;
  aws: SeedAwsClients;
  /** The stage key the secret is encrypted with (stages.yaml kmsKeyId). */
  kmsKeyId: string;
  /** stages.yaml secretPrefix. */
  secretPrefix: string;
  /** The database's secret namespace (see ApplyOptions.secretNamespace). */
  secretNamespace?: string;
  /** Old key stays valid this many hours (expires_at); default: until confirmed. */
  graceHours?: number;
  actor?: string;
  runId?: string;
  /** The seed model whose inboundKeys table holds the keys; default the built-in one (this repository's schema). */
  model?: SeedModel;
  /** How long to wait for a running seed's lock; default DEFAULT_SAFETY.lockWaitTimeoutMs. */
  lockWaitTimeoutMs?: number;
}

export interface RotateResult {
  tenant: string;
  /** Prefix of the new (pending) key. The plaintext is only in the secret. */
  newPrefix: string;
  secretName: string;
  retiring: { prefix: string; expiresAt: string | null }[];
}

export interface ConfirmResult {
  tenant: string;
  activePrefix: string;
  revoked: string[];
}

/** The keys table of the model, with the names rotate-key uses. */
function keysOf(model: SeedModel): { ik: InboundKeysSpec; t: string; c: (k: keyof InboundKeysSpec) => string } {
  const ik = model.inboundKeys;
  if (!ik) throw new SeedError(`The seed model (${model.file}) declares no tenant.inboundKeys table, so there is no key to rotate. A \`generated\` field is rotated by \`reseed --tenant <slug> --reset\` (see seeds/README.md).`);
  return { ik, t: qTable(ik.table), c: (k) => qIdent(ik[k] as string) };
}

async function tenantId(client: pg.ClientBase, slug: string, model: SeedModel): Promise<string> {
  const root = model.tenant;
  const keyCol = root.fields.find((f) => f.name === root.key[0])!.column!;
  const { rows } = await client.query(`SELECT ${qIdent(root.id!)} AS id FROM ${qTable(root.table)} WHERE ${qIdent(keyCol)} = $1`, [slug]);
  if (!rows[0]) throw new SeedError(`Tenant "${slug}" does not exist in this database; seed it first.`, { tenant: slug });
  return rows[0].id as string;
}

async function audit(client: pg.ClientBase, tenant: string, slug: string, action: string, changes: unknown, o: { actor?: string; runId?: string; model?: SeedModel }) {
  const table = (o.model ?? builtinModel()).audit?.table;
  if (!table) return;
  await client.query(
    `INSERT INTO ${qTable(table)} (tenant_id, actor, action, resource_type, resource_id, changes, context) VALUES ($1, $2, $3, 'tenant_api_key', $4, $5, $6)`,
    [tenant, o.actor ?? 'migrator', action, slug, JSON.stringify(changes), JSON.stringify(o.runId ? { runId: o.runId } : {})],
  );
}

async function inTransaction<T>(client: pg.ClientBase, fn: () => Promise<T>, lockWaitTimeoutMs: number = DEFAULT_SAFETY.lockWaitTimeoutMs): Promise<T> {
  await client.query('BEGIN');
  try {
    // Bounded wait for a running seed (same lock); ends with the transaction.
    await takeSeedLock(client, lockWaitTimeoutMs);
    const out = await fn();
    await client.query('COMMIT');
    return out;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  }
}

export async function rotateTenantApiKey(client: pg.ClientBase, o: RotateOptions): Promise<RotateResult> {
  if (o.graceHours !== undefined && !(Number.isFinite(o.graceHours) && o.graceHours > 0)) {
    throw new SeedError(`--grace-hours must be a positive number (got ${o.graceHours}).`, { tenant: o.slug });
  }
  const model = o.model ?? builtinModel();
  const { ik, t, c } = keysOf(model);
  return inTransaction(client, async () => {
    const id = await tenantId(client, o.slug, model);
    const order = ik.createdAtColumn ? ` ORDER BY ${c('createdAtColumn')}` : '';
    const { rows } = await client.query(
      `SELECT ${c('prefixColumn')} AS prefix, ${c('statusColumn')} AS status, ${c('secretNameColumn')} AS secret_name FROM ${t} WHERE ${c('parentColumn')} = $1 AND ${c('statusColumn')} <> 'revoked'${order} FOR UPDATE`,
      [id],
    );
    const pending = rows.find((r) => r.status === 'pending');
    if (pending) {
      throw new SeedError(
        `Tenant "${o.slug}" already has a pending key (${pending.prefix}); confirm it with \`rotate-key --tenant ${o.slug} --confirm\` before rotating again.`,
        { tenant: o.slug },
      );
    }
    if (rows.length === 0) throw new SeedError(`Tenant "${o.slug}" has no inbound API key to rotate; run seed first.`, { tenant: o.slug });
    if (o.graceHours !== undefined && !ik.expiresAtColumn) throw new SeedError(`--grace-hours needs tenant.inboundKeys.expiresAtColumn in ${model.file}.`, { tenant: o.slug });
    const expires = ik.expiresAtColumn
      ? `, ${c('expiresAtColumn')} = CASE WHEN $2::float8 IS NULL THEN ${c('expiresAtColumn')} ELSE now() + make_interval(secs => $2::float8 * 3600) END`
      : '';
    const retired = (
      await client.query(
        `UPDATE ${t} SET ${c('statusColumn')} = 'retiring'${expires}
          WHERE ${c('parentColumn')} = $1 AND ${c('statusColumn')} = 'active' RETURNING ${c('prefixColumn')} AS prefix${ik.expiresAtColumn ? `, ${c('expiresAtColumn')} AS expires_at` : ''}`,
        ik.expiresAtColumn ? [id, o.graceHours ?? null] : [id],
      )
    ).rows.map((r) => ({ prefix: r.prefix as string, expiresAt: r.expires_at ? new Date(r.expires_at).toISOString() : null }));
    const key = generateKey(ik.prefix.replaceAll('{tenant}', o.slug), ik.hash);
    // The new key goes where the tenant's current key lives (the secret its clients read), whatever
    // namespace this command was given; only a tenant without a stored name gets the computed one.
    const current = rows.find((r) => r.status === 'active') ?? rows[0];
    const secretName = (current?.secret_name as string | null) || apiKeySecretName(o.secretPrefix, o.slug, o.secretNamespace, ik.secretName);
    await client.query(
      `INSERT INTO ${t} (${c('parentColumn')}, ${c('prefixColumn')}, ${c('hashColumn')}, ${c('secretNameColumn')}, ${c('statusColumn')}) VALUES ($1, $2, $3, $4, 'pending')`,
      [id, key.prefix, key.hash, secretName],
    );
    await audit(client, id, o.slug, 'api_key.rotate', { newPrefix: key.prefix, retiring: retired, graceHours: o.graceHours ?? null }, o);
    // Last, so a database error leaves the secret untouched; a failure here rolls the rows back.
    await storeApiKeySecret(o.aws, { secretName, kmsKeyId: o.kmsKeyId, slug: o.slug, key });
    return { tenant: o.slug, newPrefix: key.prefix, secretName, retiring: retired };
  }, o.lockWaitTimeoutMs);
}

export async function confirmTenantApiKey(client: pg.ClientBase, o: { slug: string; actor?: string; runId?: string; model?: SeedModel }): Promise<ConfirmResult> {
  const model = o.model ?? builtinModel();
  const { ik, t, c } = keysOf(model);
  return inTransaction(client, async () => {
    const id = await tenantId(client, o.slug, model);
    const pending = (await client.query(`SELECT ${c('prefixColumn')} AS prefix FROM ${t} WHERE ${c('parentColumn')} = $1 AND ${c('statusColumn')} = 'pending' FOR UPDATE`, [id])).rows;
    if (pending.length === 0) throw new SeedError(`Tenant "${o.slug}" has no pending key to confirm; run rotate-key first.`, { tenant: o.slug });
    // Demote first: at most one active key per tenant (unique partial index).
    const revoked = (
      await client.query(
        `UPDATE ${t} SET ${c('statusColumn')} = 'revoked'${ik.revokedAtColumn ? `, ${c('revokedAtColumn')} = now()` : ''}
          WHERE ${c('parentColumn')} = $1 AND ${c('statusColumn')} IN ('active', 'retiring') RETURNING ${c('prefixColumn')} AS prefix`,
        [id],
      )
    ).rows.map((r) => r.prefix as string);
    const activePrefix = pending[0]!.prefix as string;
    await client.query(
      `UPDATE ${t} SET ${c('statusColumn')} = 'active'${ik.confirmedAtColumn ? `, ${c('confirmedAtColumn')} = now()` : ''} WHERE ${c('parentColumn')} = $1 AND ${c('statusColumn')} = 'pending'`,
      [id],
    );
    await audit(client, id, o.slug, 'api_key.confirm', { activePrefix, revoked }, o);
    return { tenant: o.slug, activePrefix, revoked };
  });
}
