/** reseed --reset touches only the named tenant; protected stages refuse; plan writes nothing; rotate-key. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CreateSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import {
  assertNotProtected,
  confirmTenantApiKey,
  hashApiKey,
  ProtectedStageError,
  rotateTenantApiKey,
  seed,
  SeedError,
} from '../../functions/core/seed/index.ts';
import { editYaml, seedEnv, snapshot, writeCounters, SEEDS, type SeedEnv } from './helpers.ts';
import { createTestDatabase } from '../support/db.ts';
import { SEED_LOCK_TABLE, takeSeedLock } from '../../functions/core/seed/apply/lock.ts';

/** Rows of every tenant-owned seeded table, except those of `slug`. */
async function othersRows(env: SeedEnv, slug: string) {
  const out: Record<string, unknown[]> = {};
  for (const t of ['users', 'tenant_agents', 'tenant_llm_settings', 'tenant_api_keys']) {
    out[t] = (
      await env.client.query(
        `SELECT to_jsonb(x)::text AS j FROM ${t} x JOIN tenants t ON t.id = x.tenant_id WHERE t.slug <> $1 ORDER BY 1`,
        [slug],
      )
    ).rows.map((r) => r.j);
  }
  out.tenants = (await env.client.query(`SELECT to_jsonb(t)::text AS j FROM tenants t WHERE slug <> $1 ORDER BY 1`, [slug])).rows.map((r) => r.j);
  return out;
}

describe('reset, protection, plan, rotation', () => {
  let env: SeedEnv;
  beforeEach(async () => {
    env = await seedEnv();
    await seed(env.client, { stage: 'local', dir: env.seedsDir, aws: env.aws });
  });
  afterEach(async () => {
    await env.close();
  });

  it('reseed --reset deletes and recreates only the named tenant', async () => {
    const { client, aws, seedsDir } = env;
    // The application changed things: a user of etms and one of efms edited, an extra etms user added.
    await client.query(`UPDATE users SET display_name = 'Renamed by app' WHERE email IN ('admin@etms.local', 'admin@efms.local')`);
    await client.query(`INSERT INTO users (tenant_id, email, role) SELECT id, 'extra@etms.local', 'member' FROM tenants WHERE slug = 'etms'`);
    const etmsId = (await client.query(`SELECT id FROM tenants WHERE slug = 'etms'`)).rows[0].id;
    const oldKey = (await client.query(`SELECT prefix FROM tenant_api_keys WHERE tenant_id = $1`, [etmsId])).rows[0].prefix;
    const others = await othersRows(env, 'etms');

    const s = await seed(client, { stage: 'local', dir: seedsDir, aws, tenants: ['etms'], reset: ['etms'], action: 'reseed' });
    expect(s.reset).toEqual(['etms']);
    expect(s.tenants).toEqual(['etms']);
    expect(s.tables.users).toMatchObject({ deleted: 4, inserted: 3 });
    expect(s.tables.tenant_api_keys).toMatchObject({ deleted: 1, inserted: 1 });
    expect(s.keys.encrypted).toBe(1);

    expect(await othersRows(env, 'etms')).toEqual(others);
    const etmsUsers = (await client.query(`SELECT email, display_name FROM users WHERE tenant_id = $1 ORDER BY email`, [etmsId])).rows;
    expect(etmsUsers).toEqual([
      { email: 'admin@etms.local', display_name: 'eTMS Admin' },
      { email: 'support_1@etms.local', display_name: 'eTMS Support 1' },
      { email: 'support_2@etms.local', display_name: 'eTMS Support 2' },
    ]);
    // Same tenant id (application data referencing it survives), fresh inbound key.
    expect((await client.query(`SELECT id FROM tenants WHERE slug = 'etms'`)).rows[0].id).toBe(etmsId);
    const keys = (await client.query(`SELECT prefix FROM tenant_api_keys WHERE tenant_id = $1`, [etmsId])).rows;
    expect(keys).toHaveLength(1);
    expect(keys[0].prefix).not.toBe(oldKey);
    const audit = (await client.query(`SELECT action, resource_id FROM audit_log WHERE action = 'seed.reset'`)).rows;
    expect(audit).toEqual([{ action: 'seed.reset', resource_id: 'etms' }]);
  });

  it('removing an entry from a seed file deletes nothing; editing one field updates one row', async () => {
    const { client, aws, seedsDir } = env;
    editYaml(seedsDir, 'tenants/efms.yaml', (t) => {
      t.users = t.users.filter((u: { email: string }) => u.email !== 'support_2@efms.local');
      t.users[0].displayName = 'eFMS Chief';
    });
    const s = await seed(client, { stage: 'local', dir: seedsDir, aws });
    expect(s.tables.users).toEqual({ inserted: 0, updated: 1, unchanged: 11, deleted: 0 });
    expect(s.changes).toEqual([{ table: 'users', action: 'update', key: 'efms/admin@efms.local', fields: ['display_name'] }]);
    expect(s.rowsWritten).toBe(1);
    expect(s.counts.users).toBe(13);
  });

  it('a protected stage refuses reset and reseed, whoever asks; seed itself is allowed there', async () => {
    const { client, aws, seedsDir } = env;
    const before = await snapshot(client);
    await expect(seed(client, { stage: 'prod', dir: seedsDir, aws, tenants: ['etms'], reset: ['etms'] })).rejects.toBeInstanceOf(ProtectedStageError);
    await expect(seed(client, { stage: 'prod', dir: seedsDir, aws, tenants: ['etms'], action: 'reseed' })).rejects.toThrow(/Stage "prod" is protected: reseed is refused/);
    expect(() => assertNotProtected('prod', 'down', { seedsDir })).toThrow(ProtectedStageError);
    expect(() => assertNotProtected('prod', 'down', { seedsDir })).toThrow(/down is refused/);
    // Even a stage file that forgets `protected` on prod.
    editYaml(seedsDir, 'stages.yaml', (s) => void (s.stages.prod.protected = false));
    expect(() => assertNotProtected('prod', 'reset', { seedsDir })).toThrow(ProtectedStageError);
    expect(() => assertNotProtected('staging', 'reset', { seedsDir })).not.toThrow();
    expect(await snapshot(client)).toEqual(before);
  });

  it('prod gets only real tenants; staging gets the demo tenants too', async () => {
    const { client, aws, seedsDir } = env;
    for (const stage of ['prod', 'staging']) {
      for (const p of ['google', 'openrouter']) {
        await aws.secrets.send(new CreateSecretCommand({ Name: `migrator/${stage}/llm/${p}`, SecretString: JSON.stringify({ apiKey: `fake-${stage}-${p}-NOT-REAL` }) }));
      }
    }
    const plan = await seed(client, { stage: 'prod', dir: seedsDir, aws, plan: true });
    expect(plan.tenants.sort()).toEqual(['efms', 'etms', 'vela']);
    const staging = await seed(client, { stage: 'staging', dir: seedsDir, aws, plan: true });
    expect(staging.tenants.sort()).toEqual(['demo-acme', 'demo-globex', 'efms', 'etms', 'vela']);
  });

  it('plan reports what would change and writes nothing, calls no Encrypt', async () => {
    const { client, aws, seedsDir, standIn } = env;
    editYaml(seedsDir, 'tenants/vela.yaml', (t) => {
      t.users.push({ email: 'new@vela.local', role: 'member' });
      t.agents.push('DebtAgent');
    });
    await client.query(`UPDATE tenant_llm_settings SET api_key_secret_version = 'stale' WHERE purpose = 'default' AND tenant_id = (SELECT id FROM tenants WHERE slug = 'etms')`);
    const before = await snapshot(client);
    const writes = await writeCounters(client);
    standIn.resetCalls();
    const p = await seed(client, { stage: 'local', dir: seedsDir, aws, plan: true, tenants: ['vela', 'etms'] });
    expect(p.mode).toBe('plan');
    expect(p.rowsWritten).toBe(0);
    expect(p.tables.users!.inserted).toBe(1);
    expect(p.tables.tenant_agents!.inserted).toBe(1);
    expect(p.keys.encrypted).toBe(1);
    expect(p.changes).toEqual(
      expect.arrayContaining([
        { table: 'users', action: 'insert', key: 'vela/new@vela.local' },
        { table: 'tenant_agents', action: 'insert', key: 'vela/DebtAgent' },
        { table: 'tenant_llm_settings', action: 'update', key: 'etms/default', fields: ['api_key_ciphertext'] },
      ]),
    );
    expect(standIn.callCount('TrentService.Encrypt')).toBe(0);
    expect(standIn.callCount('secretsmanager.GetSecretValue')).toBe(0);
    expect(await snapshot(client)).toEqual(before);
    expect(await writeCounters(client)).toEqual(writes);
  });

  it('rotate-key: new key pending, old retiring until confirmed; re-seeding never regenerates', async () => {
    const { client, aws, seedsDir } = env;
    const secretOf = async (name: string) => JSON.parse((await aws.secrets.send(new GetSecretValueCommand({ SecretId: name }))).SecretString!);
    const keys = async () =>
      (await client.query(`SELECT k.prefix, k.key_hash, k.status, k.expires_at, k.revoked_at, k.confirmed_at FROM tenant_api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE t.slug = 'vela' ORDER BY k.created_at`)).rows;
    const [first] = await keys();
    const o = { slug: 'vela', aws, kmsKeyId: 'alias/migrator-local', secretPrefix: 'migrator/local' };

    const r = await rotateTenantApiKey(client, o);
    expect(r.secretName).toBe('migrator/local/tenants/vela/api-key');
    expect(r.retiring).toEqual([{ prefix: first.prefix, expiresAt: null }]);
    let k = await keys();
    expect(k.map((x) => x.status)).toEqual(['retiring', 'pending']);
    const secret = await secretOf(r.secretName);
    expect(secret.prefix).toBe(r.newPrefix);
    expect(hashApiKey(secret.apiKey)).toBe(k[1].key_hash);

    // A re-seed leaves both keys alone; a second rotation before confirming is refused.
    const s = await seed(client, { stage: 'local', dir: seedsDir, aws });
    expect(s.keys.inboundCreated).toBe(0);
    expect(s.rowsWritten).toBe(0);
    await expect(rotateTenantApiKey(client, o)).rejects.toThrow(/already has a pending key .* --confirm/);

    const c = await confirmTenantApiKey(client, { slug: 'vela' });
    expect(c).toEqual({ tenant: 'vela', activePrefix: r.newPrefix, revoked: [first.prefix] });
    k = await keys();
    expect(k.map((x) => x.status)).toEqual(['revoked', 'active']);
    expect(k[0].revoked_at).not.toBeNull();
    expect(k[1].confirmed_at).not.toBeNull();
    await expect(confirmTenantApiKey(client, { slug: 'vela' })).rejects.toBeInstanceOf(SeedError);

    // With a grace period the old key gets an expiry.
    const before = (await client.query('SELECT clock_timestamp() AS t')).rows[0].t.getTime();
    const g = await rotateTenantApiKey(client, { ...o, graceHours: 48 });
    const after = (await client.query('SELECT clock_timestamp() AS t')).rows[0].t.getTime();
    const expires = new Date(g.retiring[0]!.expiresAt!).getTime() - 48 * 3600_000;
    // 48 h after the rotation happened: between the server's clock just before and just after it.
    expect(expires).toBeGreaterThanOrEqual(before - 1000);
    expect(expires).toBeLessThanOrEqual(after + 1000);
    await expect(rotateTenantApiKey(client, { ...o, slug: 'nobody' })).rejects.toThrow(/Tenant "nobody" does not exist/);
    const audit = (await client.query(`SELECT action FROM audit_log WHERE resource_type = 'tenant_api_key' ORDER BY id`)).rows.map((x) => x.action);
    expect(audit).toEqual(['api_key.rotate', 'api_key.confirm', 'api_key.rotate']);
  });
});

describe('concurrent seed runs', () => {
  it('a second seeder waits for the first, and gives up with a clear error after its lock wait timeout', async () => {
    const env = await seedEnv();
    try {
      const other = await env.db.client();
      // A first run creates the seed lock table (owned by the migrator role); then another seeder holds its row.
      await env.client.query('BEGIN');
      await takeSeedLock(env.client, 1000);
      await env.client.query('COMMIT');
      await other.query('BEGIN');
      await other.query(`SELECT 1 FROM ${SEED_LOCK_TABLE} WHERE id = 1 FOR UPDATE`);
      await expect(seed(env.client, { stage: 'local', dir: env.seedsDir, aws: env.aws, lockWaitTimeoutMs: 300 })).rejects.toThrow(
        /Another seed run .* holds the seed lock; gave up after 300ms\. Nothing was written\./,
      );
      // It gave up on its own deadline: the holder was still holding (nothing released it first).
      const held = await env.client.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'transactionid' AND mode = 'ExclusiveLock' AND granted AND pid = $1`, [
        (other as unknown as { processID: number }).processID,
      ]);
      expect(held.rows[0].n).toBe(1);
      expect((await env.client.query(`SELECT count(*)::int AS n FROM tenants`)).rows[0].n).toBe(0);
      const waiting = seed(env.client, { stage: 'local', dir: env.seedsDir, aws: env.aws });
      await new Promise((r) => setTimeout(r, 200));
      await other.query('COMMIT');
      expect((await waiting).counts.tenants).toBe(5);
    } finally {
      await env.close();
    }
  });
});

describe('an unmigrated database', () => {
  it('is refused with a clear message', async () => {
    const db = await createTestDatabase('seed_nomig');
    try {
      const c = await db.client();
      await expect(seed(c, { stage: 'local', dir: SEEDS, aws: {} as never })).rejects.toThrow(
        /no llm_models, tools, agents, .* tables: apply the migrations first \(migrator up\)/,
      );
    } finally {
      await db.drop();
    }
  });
});
