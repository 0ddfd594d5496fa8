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
import { apiKeySecretName, generateApiKey, storeApiKeySecret } from './api-keys.ts';
import { SeedError } from './errors.ts';
import { DEFAULT_SAFETY } from '../migrate/types.ts';
import { SEED_LOCK } from './apply.ts';

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

async function tenantId(client: pg.ClientBase, slug: string): Promise<string> {
  const { rows } = await client.query(`SELECT id FROM tenants WHERE slug = $1`, [slug]);
  if (!rows[0]) throw new SeedError(`Tenant "${slug}" does not exist in this database; seed it first.`, { tenant: slug });
  return rows[0].id as string;
}

async function audit(client: pg.ClientBase, tenant: string, slug: string, action: string, changes: unknown, o: { actor?: string; runId?: string }) {
  await client.query(
    `INSERT INTO audit_log (tenant_id, actor, action, resource_type, resource_id, changes, context) VALUES ($1, $2, $3, 'tenant_api_key', $4, $5, $6)`,
    [tenant, o.actor ?? 'migrator', action, slug, JSON.stringify(changes), JSON.stringify(o.runId ? { runId: o.runId } : {})],
  );
}

async function inTransaction<T>(client: pg.ClientBase, fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    // Bounded wait for a running seed (same lock); ends with the transaction.
    await client.query(`SELECT set_config('lock_timeout', $1, true)`, [`${DEFAULT_SAFETY.lockWaitTimeoutMs}ms`]);
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [...SEED_LOCK]);
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
  return inTransaction(client, async () => {
    const id = await tenantId(client, o.slug);
    const { rows } = await client.query(
      `SELECT id, prefix, status FROM tenant_api_keys WHERE tenant_id = $1 AND status <> 'revoked' ORDER BY created_at FOR UPDATE`,
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
    const retired = (
      await client.query(
        `UPDATE tenant_api_keys SET status = 'retiring',
                expires_at = CASE WHEN $2::float8 IS NULL THEN expires_at ELSE now() + make_interval(secs => $2::float8 * 3600) END
          WHERE tenant_id = $1 AND status = 'active' RETURNING prefix, expires_at`,
        [id, o.graceHours ?? null],
      )
    ).rows.map((r) => ({ prefix: r.prefix as string, expiresAt: r.expires_at ? new Date(r.expires_at).toISOString() : null }));
    const key = generateApiKey(o.slug);
    const secretName = apiKeySecretName(o.secretPrefix, o.slug, o.secretNamespace);
    await client.query(`INSERT INTO tenant_api_keys (tenant_id, prefix, key_hash, secret_name, status) VALUES ($1, $2, $3, $4, 'pending')`, [
      id,
      key.prefix,
      key.hash,
      secretName,
    ]);
    await audit(client, id, o.slug, 'api_key.rotate', { newPrefix: key.prefix, retiring: retired, graceHours: o.graceHours ?? null }, o);
    // Last, so a database error leaves the secret untouched; a failure here rolls the rows back.
    await storeApiKeySecret(o.aws, { secretName, kmsKeyId: o.kmsKeyId, slug: o.slug, key });
    return { tenant: o.slug, newPrefix: key.prefix, secretName, retiring: retired };
  });
}

export async function confirmTenantApiKey(client: pg.ClientBase, o: { slug: string; actor?: string; runId?: string }): Promise<ConfirmResult> {
  return inTransaction(client, async () => {
    const id = await tenantId(client, o.slug);
    const pending = (await client.query(`SELECT prefix FROM tenant_api_keys WHERE tenant_id = $1 AND status = 'pending' FOR UPDATE`, [id])).rows;
    if (pending.length === 0) throw new SeedError(`Tenant "${o.slug}" has no pending key to confirm; run rotate-key first.`, { tenant: o.slug });
    // Demote first: at most one active key per tenant (unique partial index).
    const revoked = (
      await client.query(
        `UPDATE tenant_api_keys SET status = 'revoked', revoked_at = now() WHERE tenant_id = $1 AND status IN ('active', 'retiring') RETURNING prefix`,
        [id],
      )
    ).rows.map((r) => r.prefix as string);
    const activePrefix = pending[0]!.prefix as string;
    await client.query(`UPDATE tenant_api_keys SET status = 'active', confirmed_at = now() WHERE tenant_id = $1 AND status = 'pending'`, [id]);
    await audit(client, id, o.slug, 'api_key.confirm', { activePrefix, revoked }, o);
    return { tenant: o.slug, activePrefix, revoked };
  });
}
