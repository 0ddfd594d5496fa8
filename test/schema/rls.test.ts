/**
 * Row Level Security: the application role sees and writes only its own tenant's rows, sees nothing
 * without a tenant, may only read the catalog, and cannot touch migration_runs.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { createTestDatabase, serverUrl, type TestDatabase } from '../support/db.ts';
import { APP_ROLE, TENANT_SETTING, actAs, actAsOwner, insertTenant, migrate, pgError } from './support.ts';

let db: TestDatabase;
let owner: pg.Client;
let app: pg.Client;
let tenantA: string;
let tenantB: string;
let agentId: string;
let modelId: string;

/**
 * Every tenant-owned table, with how to insert a row for a tenant (as owner or as the app) and a
 * harmless column to update. `delete` says whether the app may delete there.
 */
interface TenantTable {
  table: string;
  insert: (tenantId: string, n: number) => [string, unknown[]];
  update: string;
  delete: boolean;
}
const tenantTables: TenantTable[] = [
  {
    table: 'users',
    insert: (t, n) => [`INSERT INTO users (tenant_id, email, role) VALUES ($1, $2, 'member')`, [t, `u${n}@example.test`]],
    update: `display_name = 'changed'`,
    delete: true,
  },
  {
    table: 'tenant_agents',
    // Some catalog agent this tenant has not been given yet (as far as the caller can see).
    insert: (t) => [
      `INSERT INTO tenant_agents (tenant_id, agent_id)
       SELECT $1::uuid, a.id FROM agents a
       WHERE NOT EXISTS (SELECT 1 FROM tenant_agents ta WHERE ta.tenant_id = $1::uuid AND ta.agent_id = a.id)
       ORDER BY a.name LIMIT 1`,
      [t],
    ],
    update: `enabled = false`,
    delete: true,
  },
  {
    table: 'tenant_llm_settings',
    insert: (t, n) => [
      `INSERT INTO tenant_llm_settings (tenant_id, purpose, model_id, api_key_ciphertext, api_key_kms_key_arn)
       VALUES ($1, $2, $3, '\\x0102'::bytea, 'arn:aws:kms:us-east-1:000000000000:key/test')`,
      [t, `p${n}`, modelId],
    ],
    update: `temperature = 0.5`,
    delete: true,
  },
  {
    table: 'tenant_api_keys',
    insert: (t, n) => [
      `INSERT INTO tenant_api_keys (tenant_id, prefix, key_hash, status) VALUES ($1, $2, 'hash', 'pending')`,
      [t, `tk_test_${n}`],
    ],
    update: `confirmed_at = now()`,
    delete: true,
  },
  {
    table: 'action_logs',
    insert: (t) => [`INSERT INTO action_logs (tenant_id, action_type, provider) VALUES ($1, 'crm.create', 'hubspot')`, [t]],
    update: `status = 'success'`,
    delete: false,
  },
  {
    table: 'agent_tasks',
    insert: (t) => [`INSERT INTO agent_tasks (tenant_id, agent_id) VALUES ($1, $2)`, [t, agentId]],
    update: `priority = 9`,
    delete: true,
  },
  {
    table: 'audit_log',
    insert: (t) => [`INSERT INTO audit_log (tenant_id, actor, action) VALUES ($1, 'test', 'user.login')`, [t]],
    update: `actor = 'changed'`,
    delete: false,
  },
];

let seq = 0;
async function insertAs(client: pg.Client, spec: TenantTable, tenantId: string) {
  const [sql, params] = spec.insert(tenantId, ++seq);
  return client.query(sql, params);
}

beforeAll(async () => {
  db = await createTestDatabase('schema_rls');
  await migrate(db.url);
  owner = await db.client();
  app = await db.client();
  tenantA = await insertTenant(owner, 'tenant-a');
  tenantB = await insertTenant(owner, 'tenant-b');
  agentId = (await owner.query(`INSERT INTO agents (name) VALUES ('GuidelineAgent') RETURNING id`)).rows[0].id;
  await owner.query(`INSERT INTO agents (name) VALUES ('DebtAgent'), ('ShipmentAgent'), ('SupervisorAgent')`);
  modelId = (await owner.query(`INSERT INTO llm_models (name, provider) VALUES ('gemini-2.5-flash', 'google') RETURNING id`)).rows[0].id;
  const toolId = (await owner.query(`INSERT INTO tools (name, kind) VALUES ('search_knowledge_base', 'rag') RETURNING id`)).rows[0].id;
  await owner.query(`INSERT INTO agent_tools (agent_id, tool_id) VALUES ($1, $2)`, [agentId, toolId]);
  await owner.query(
    `INSERT INTO migration_runs (trigger, stage, command, outcome, finished_at) VALUES ('local', 'dev', 'up', 'succeeded', now())`,
  );
  // One row per tenant in every tenant-owned table, written by the owner (RLS does not apply to it).
  for (const spec of tenantTables) {
    await insertAs(owner, spec, tenantA);
    await insertAs(owner, spec, tenantB);
  }
});

afterAll(async () => {
  await db?.drop();
});

beforeEach(async () => {
  await actAsOwner(app);
});

describe('the application role', () => {
  it('is a NOLOGIN role without BYPASSRLS, and no table forces RLS on the owner', async () => {
    const { rows } = await owner.query(`SELECT rolcanlogin, rolbypassrls, rolsuper FROM pg_roles WHERE rolname = $1`, [APP_ROLE]);
    expect(rows).toEqual([{ rolcanlogin: false, rolbypassrls: false, rolsuper: false }]);
    const forced = await owner.query(`SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relforcerowsecurity`);
    expect(forced.rows).toEqual([]);
  });

  it('has RLS enabled with a policy on every table that has a tenant_id column, and on tenants', async () => {
    const { rows } = await owner.query<{ relname: string; relrowsecurity: boolean; policies: number }>(`
      SELECT c.relname, c.relrowsecurity,
             (SELECT count(*)::int FROM pg_policies p WHERE p.schemaname = 'public' AND p.tablename = c.relname) AS policies
      FROM pg_class c
      WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
        AND (c.relname = 'tenants' OR EXISTS (
          SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))
        AND c.relname <> 'migration_runs'
      ORDER BY c.relname`);
    expect(rows.map((r) => r.relname).sort()).toEqual([...tenantTables.map((t) => t.table), 'tenants'].sort());
    for (const r of rows) {
      expect(r.relrowsecurity, r.relname).toBe(true);
      expect(r.policies, r.relname).toBeGreaterThan(0);
    }
    // Every policy reads the tenant from the same setting.
    const policies = await owner.query<{ qual: string | null; with_check: string | null }>(
      `SELECT qual, with_check FROM pg_policies WHERE schemaname = 'public'`,
    );
    for (const p of policies.rows) {
      for (const expr of [p.qual, p.with_check].filter((e): e is string => e !== null)) {
        expect(expr).toContain(`current_setting('${TENANT_SETTING}'::text, true)`);
      }
    }
  });
});

describe.each(tenantTables)('$table', (spec) => {
  it('shows the app only its own tenant’s rows', async () => {
    await actAs(app, tenantA);
    const { rows } = await app.query(`SELECT DISTINCT tenant_id FROM ${spec.table}`);
    expect(rows).toEqual([{ tenant_id: tenantA }]);
    await actAs(app, tenantB);
    expect((await app.query(`SELECT DISTINCT tenant_id FROM ${spec.table}`)).rows).toEqual([{ tenant_id: tenantB }]);
  });

  it('shows nothing and accepts nothing without app.tenant_id', async () => {
    await actAs(app, null);
    expect((await app.query(`SELECT count(*)::int AS n FROM ${spec.table}`)).rows[0].n).toBe(0);
    const [sql, params] = spec.insert(tenantA, ++seq);
    expect((await pgError(app, sql, params)).code).toBe('42501');
  });

  it('lets the app insert for its own tenant and rejects another tenant’s id', async () => {
    await actAs(app, tenantA);
    const mine = await insertAs(app, spec, tenantA);
    expect(mine.rowCount).toBe(1);
    const [sql, params] = spec.insert(tenantB, ++seq);
    const err = await pgError(app, sql, params);
    expect(err.code).toBe('42501');
    expect(err.message).toMatch(/row-level security/);
  });

  it('updates and deletes of another tenant’s rows affect nothing', async () => {
    await actAs(app, tenantA);
    if (spec.table === 'audit_log') {
      // No UPDATE or DELETE privilege at all on the audit log.
      expect((await pgError(app, `UPDATE audit_log SET ${spec.update} WHERE tenant_id = $1`, [tenantB])).code).toBe('42501');
      expect((await pgError(app, `DELETE FROM audit_log WHERE tenant_id = $1`, [tenantB])).code).toBe('42501');
      return;
    }
    const before = (await owner.query(`SELECT count(*)::int AS n FROM ${spec.table} WHERE tenant_id = $1`, [tenantB])).rows[0].n;
    expect(before).toBeGreaterThan(0);
    expect((await app.query(`UPDATE ${spec.table} SET ${spec.update} WHERE tenant_id = $1`, [tenantB])).rowCount).toBe(0);
    if (spec.delete) {
      expect((await app.query(`DELETE FROM ${spec.table} WHERE tenant_id = $1`, [tenantB])).rowCount).toBe(0);
    } else {
      expect((await pgError(app, `DELETE FROM ${spec.table} WHERE tenant_id = $1`, [tenantB])).code).toBe('42501');
    }
    // Its own rows it can update; moving one to another tenant is refused by WITH CHECK.
    expect((await app.query(`UPDATE ${spec.table} SET ${spec.update} WHERE tenant_id = $1`, [tenantA])).rowCount).toBeGreaterThan(0);
    expect((await pgError(app, `UPDATE ${spec.table} SET tenant_id = $1`, [tenantB])).code).toBe('42501');
    const after = (await owner.query(`SELECT count(*)::int AS n FROM ${spec.table} WHERE tenant_id = $1`, [tenantB])).rows[0].n;
    expect(after).toBe(before);
  });
});

describe('tenants', () => {
  it('shows the app only its own tenant row, and none without a tenant', async () => {
    await actAs(app, tenantA);
    expect((await app.query(`SELECT id, slug FROM tenants`)).rows).toEqual([{ id: tenantA, slug: 'tenant-a' }]);
    await actAs(app, null);
    expect((await app.query(`SELECT id FROM tenants`)).rows).toEqual([]);
  });

  it('lets the app edit its own descriptive fields only, never another tenant, slug or status', async () => {
    await actAs(app, tenantA);
    expect((await app.query(`UPDATE tenants SET name = 'Tenant A Ltd' WHERE id = $1`, [tenantA])).rowCount).toBe(1);
    expect((await app.query(`UPDATE tenants SET name = 'hijacked' WHERE id = $1`, [tenantB])).rowCount).toBe(0);
    expect((await pgError(app, `UPDATE tenants SET status = 'archived' WHERE id = $1`, [tenantA])).code).toBe('42501');
    expect((await pgError(app, `UPDATE tenants SET slug = 'x' WHERE id = $1`, [tenantA])).code).toBe('42501');
    expect((await pgError(app, `INSERT INTO tenants (slug, name) VALUES ('new-one', 'New')`)).code).toBe('42501');
    expect((await pgError(app, `DELETE FROM tenants WHERE id = $1`, [tenantA])).code).toBe('42501');
    expect((await owner.query(`SELECT name FROM tenants WHERE id = $1`, [tenantB])).rows[0].name).toBe('TENANT-B');
  });
});

describe('catalog and ops tables', () => {
  it.each(['llm_models', 'agents', 'tools', 'agent_tools'])('%s is readable but not writable by the app', async (table) => {
    await actAs(app, tenantA);
    expect((await app.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n).toBeGreaterThan(0);
    expect((await pgError(app, `DELETE FROM ${table}`)).code).toBe('42501');
    expect((await pgError(app, `UPDATE ${table} SET created_at = now()`)).code).toBe('42501');
  });

  it('catalog inserts are refused', async () => {
    await actAs(app, tenantA);
    expect((await pgError(app, `INSERT INTO agents (name) VALUES ('RogueAgent')`)).code).toBe('42501');
    expect((await pgError(app, `INSERT INTO llm_models (name, provider) VALUES ('x', 'y')`)).code).toBe('42501');
  });

  it('migration_runs is not readable or writable by the app', async () => {
    await actAs(app, tenantA);
    expect((await pgError(app, `SELECT * FROM migration_runs`)).code).toBe('42501');
    expect((await pgError(app, `INSERT INTO migration_runs (trigger, stage, command) VALUES ('local', 'x', 'up')`)).code).toBe('42501');
    await actAsOwner(app);
    expect((await app.query(`SELECT count(*)::int AS n FROM migration_runs`)).rows[0].n).toBe(1);
  });
});

describe('the tenant setting', () => {
  it('scoped to a transaction (set_config(..., true)) is gone after commit, and the app then sees nothing', async () => {
    await app.query(`SET ROLE ${APP_ROLE}`);
    await app.query('BEGIN');
    await app.query(`SELECT set_config($1, $2, true)`, [TENANT_SETTING, tenantA]);
    expect((await app.query(`SELECT count(*)::int AS n FROM users`)).rows[0].n).toBeGreaterThan(0);
    await app.query('COMMIT');
    // The setting now reads as '' (not NULL): the policies must treat that as "no tenant", not fail.
    expect((await app.query(`SELECT current_setting($1, true) AS v`, [TENANT_SETTING])).rows[0].v).toBe('');
    expect((await app.query(`SELECT count(*)::int AS n FROM users`)).rows[0].n).toBe(0);
  });

  it('that is not a uuid is an error, not a silent match', async () => {
    await app.query(`SET ROLE ${APP_ROLE}`);
    await app.query(`SELECT set_config($1, 'not-a-uuid', false)`, [TENANT_SETTING]);
    expect((await pgError(app, `SELECT * FROM users`)).code).toBe('22P02');
  });
});

describe('tenant_for_api_key', () => {
  it('resolves a valid key to its tenant for the app whatever tenant is set, and never a revoked or expired one', async () => {
    await owner.query(
      `INSERT INTO tenant_api_keys (tenant_id, prefix, key_hash, status) VALUES ($1, 'tk_b_active', 'h-active', 'active')`,
      [tenantB],
    );
    await owner.query(
      `INSERT INTO tenant_api_keys (tenant_id, prefix, key_hash, status, revoked_at) VALUES ($1, 'tk_b_revoked', 'h-revoked', 'revoked', now())`,
      [tenantB],
    );
    await owner.query(
      `INSERT INTO tenant_api_keys (tenant_id, prefix, key_hash, status, expires_at) VALUES ($1, 'tk_b_expired', 'h-expired', 'retiring', now() - interval '1 minute')`,
      [tenantB],
    );
    await actAs(app, null);
    const lookup = async (prefix: string, hash: string) =>
      (await app.query(`SELECT tenant_for_api_key($1, $2) AS t`, [prefix, hash])).rows[0].t;
    expect(await lookup('tk_b_active', 'h-active')).toBe(tenantB);
    expect(await lookup('tk_b_active', 'wrong-hash')).toBeNull();
    expect(await lookup('tk_b_revoked', 'h-revoked')).toBeNull();
    expect(await lookup('tk_b_expired', 'h-expired')).toBeNull();
    // The function does not open the table itself.
    expect((await app.query(`SELECT count(*)::int AS n FROM tenant_api_keys`)).rows[0].n).toBe(0);
  });

  it('is not executable by PUBLIC', async () => {
    const { rows } = await owner.query(
      `SELECT has_function_privilege('public', 'tenant_for_api_key(text, text)', 'EXECUTE') AS public,
              has_function_privilege($1, 'tenant_for_api_key(text, text)', 'EXECUTE') AS app`,
      [APP_ROLE],
    );
    expect(rows).toEqual([{ public: false, app: true }]);
  });
});

describe('a login user that is a member of tenant_app', () => {
  it('gets the role’s privileges and policies without SET ROLE (the documented production set-up)', async () => {
    const login = `app_login_${randomBytes(4).toString('hex')}`;
    // A throwaway random password: the embedded server authenticates with SCRAM.
    const password = randomBytes(12).toString('hex');
    await owner.query(`CREATE ROLE ${login} LOGIN INHERIT PASSWORD '${password}'`);
    let client: pg.Client | undefined;
    try {
      await owner.query(`GRANT ${APP_ROLE} TO ${login}`);
      const url = new URL(db.url);
      url.username = login;
      url.password = password;
      client = new pg.Client({ connectionString: url.toString() });
      await client.connect();
      expect((await client.query(`SELECT count(*)::int AS n FROM users`)).rows[0].n).toBe(0);
      await client.query('BEGIN');
      await client.query(`SELECT set_config($1, $2, true)`, [TENANT_SETTING, tenantB]);
      const { rows } = await client.query(`SELECT DISTINCT tenant_id FROM users`);
      expect(rows).toEqual([{ tenant_id: tenantB }]);
      await client.query('COMMIT');
      expect((await pgError(client, `SELECT * FROM migration_runs`)).code).toBe('42501');
    } finally {
      await client?.end();
      // Cluster-wide: remove the throwaway login role (membership goes with it).
      const admin = new pg.Client({ connectionString: serverUrl() });
      await admin.connect();
      await admin.query(`DROP ROLE IF EXISTS ${login}`).finally(() => admin.end());
    }
  });
});
