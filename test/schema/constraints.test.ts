/**
 * The schema contract (CONTRACTS.md: the columns other modules rely on) and the constraints that keep
 * bad rows out: slugs, emails, roles, statuses, key material consistency, updated_at upkeep.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { insertTenant, migrate, pgError } from './support.ts';

let db: TestDatabase;
let c: pg.Client;
let tenantId: string;
let modelId: string;

beforeAll(async () => {
  db = await createTestDatabase('schema_checks');
  await migrate(db.url);
  c = await db.client();
  tenantId = await insertTenant(c, 'etms', 'eTMS');
  modelId = (await c.query(`INSERT INTO llm_models (name, provider) VALUES ('gpt-4o-mini', 'openrouter') RETURNING id`)).rows[0].id;
});

afterAll(async () => {
  await db?.drop();
});

/** Table -> column -> udt_name, exactly the names CONTRACTS.md promises (more columns may exist). */
const contract: Record<string, Record<string, string>> = {
  tenants: { id: 'uuid', slug: 'text', name: 'text', domain: 'text', region: 'text', status: 'text', settings: 'jsonb', created_at: 'timestamptz', updated_at: 'timestamptz' },
  users: { id: 'uuid', tenant_id: 'uuid', email: 'text', display_name: 'text', role: 'text', password_hash: 'text', invited_at: 'timestamptz', created_at: 'timestamptz', updated_at: 'timestamptz' },
  llm_models: { id: 'uuid', name: 'text', provider: 'text', display_name: 'text', context_window: 'int4', settings: 'jsonb', created_at: 'timestamptz', updated_at: 'timestamptz' },
  agents: { id: 'uuid', name: 'text', description: 'text', settings: 'jsonb', created_at: 'timestamptz', updated_at: 'timestamptz' },
  tools: { id: 'uuid', name: 'text', description: 'text', kind: 'text', endpoint: 'text', method: 'text', settings: 'jsonb', created_at: 'timestamptz', updated_at: 'timestamptz' },
  agent_tools: { agent_id: 'uuid', tool_id: 'uuid' },
  tenant_agents: { tenant_id: 'uuid', agent_id: 'uuid', enabled: 'bool', created_at: 'timestamptz', updated_at: 'timestamptz' },
  tenant_llm_settings: {
    id: 'uuid', tenant_id: 'uuid', purpose: 'text', model_id: 'uuid', temperature: 'numeric', max_tokens: 'int4',
    api_key_ciphertext: 'bytea', api_key_kms_key_arn: 'text', api_key_secret_name: 'text', api_key_secret_version: 'text',
    created_at: 'timestamptz', updated_at: 'timestamptz',
  },
  tenant_api_keys: {
    id: 'uuid', tenant_id: 'uuid', prefix: 'text', key_hash: 'text', secret_name: 'text', status: 'text',
    expires_at: 'timestamptz', confirmed_at: 'timestamptz', revoked_at: 'timestamptz', created_at: 'timestamptz', updated_at: 'timestamptz',
  },
  audit_log: { id: 'int8', tenant_id: 'uuid', actor: 'text', action: 'text', resource_type: 'text', resource_id: 'text', changes: 'jsonb', created_at: 'timestamptz' },
  action_logs: { id: 'uuid', tenant_id: 'uuid', action_type: 'text', provider: 'text', request: 'jsonb', response: 'jsonb', status: 'text', execution_ms: 'int4', created_at: 'timestamptz' },
  agent_tasks: {
    id: 'int8', tenant_id: 'uuid', agent_id: 'uuid', status: 'text', priority: 'int4', payload: 'jsonb', run_after: 'timestamptz',
    locked_at: 'timestamptz', locked_by: 'text', attempts: 'int4', last_error: 'text',
  },
  migration_runs: {
    id: 'uuid', trigger: 'text', stage: 'text', actor: 'text', command: 'text', migrations_applied: '_text', seed_summary: 'jsonb',
    outcome: 'text', error: 'text', started_at: 'timestamptz', finished_at: 'timestamptz',
  },
};

describe('schema contract', () => {
  it.each(Object.keys(contract))('%s has the promised columns and types', async (table) => {
    const { rows } = await c.query<{ column_name: string; udt_name: string }>(
      `SELECT column_name, udt_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1`,
      [table],
    );
    const actual = Object.fromEntries(rows.map((r) => [r.column_name, r.udt_name]));
    expect(actual).toMatchObject(contract[table]!);
  });

  it('has no plaintext API key column anywhere', async () => {
    const { rows } = await c.query(
      `SELECT table_name, column_name FROM information_schema.columns
       WHERE table_schema = 'public' AND column_name ~ '(api_key|secret|password)'
         AND column_name !~ '(_ciphertext|_hash|_name|_version|_arn|_encrypted_at)$'`,
    );
    expect(rows).toEqual([]);
  });

  it('indexes every foreign key by its leading columns', async () => {
    const { rows } = await c.query(`
      SELECT con.conrelid::regclass::text AS tbl, con.conname
      FROM pg_constraint con
      WHERE con.contype = 'f' AND con.connamespace = 'public'::regnamespace
        AND NOT EXISTS (
          SELECT 1 FROM pg_index i
          WHERE i.indrelid = con.conrelid
            AND (i.indkey::int2[])[0:cardinality(con.conkey) - 1] @> con.conkey
            AND (i.indkey::int2[])[0:cardinality(con.conkey) - 1] <@ con.conkey
            AND i.indpred IS NULL)`);
    expect(rows).toEqual([]);
  });
});

describe('check constraints', () => {
  it.each(['Has Caps', '-lead', 'trail-', 'under_score', '', 'a'.repeat(64), 'dot.ted'])('rejects tenant slug %j', async (slug) => {
    const err = await pgError(c, `INSERT INTO tenants (slug, name) VALUES ($1, 'x')`, [slug]);
    expect(err.code).toBe('23514');
    expect(err.constraint).toBe('tenants_slug_format');
  });

  it.each(['efms', 'vela', 'e-tms-2', 'a'])('accepts tenant slug %j', async (slug) => {
    await c.query('BEGIN');
    try {
      expect((await c.query(`INSERT INTO tenants (slug, name) VALUES ($1, 'x')`, [slug])).rowCount).toBe(1);
    } finally {
      await c.query('ROLLBACK');
    }
  });

  it('rejects a duplicate slug and an unknown tenant status', async () => {
    expect((await pgError(c, `INSERT INTO tenants (slug, name) VALUES ('etms', 'again')`)).constraint).toBe('tenants_slug_key');
    expect((await pgError(c, `UPDATE tenants SET status = 'deleted' WHERE id = $1`, [tenantId])).constraint).toBe('tenants_status_valid');
  });

  it.each([
    ['Admin@etms.local', 'users_email_lowercase'],
    ['admin.etms.local', 'users_email_format'],
    ['admin@localhost', 'users_email_format'],
    ['ad min@etms.local', 'users_email_format'],
  ])('rejects user email %j (%s)', async (email, constraint) => {
    const err = await pgError(c, `INSERT INTO users (tenant_id, email, role) VALUES ($1, $2, 'admin')`, [tenantId, email]);
    expect(err.code).toBe('23514');
    expect(err.constraint).toBe(constraint);
  });

  it('rejects an unknown user role and a duplicate email within a tenant', async () => {
    expect((await pgError(c, `INSERT INTO users (tenant_id, email, role) VALUES ($1, 'x@etms.local', 'root')`, [tenantId])).constraint)
      .toBe('users_role_valid');
    await c.query(`INSERT INTO users (tenant_id, email, role) VALUES ($1, 'support_1@etms.local', 'supporter')`, [tenantId]);
    expect((await pgError(c, `INSERT INTO users (tenant_id, email) VALUES ($1, 'support_1@etms.local')`, [tenantId])).constraint)
      .toBe('users_tenant_id_email_key');
  });

  it('rejects an unknown tool kind or HTTP method', async () => {
    expect((await pgError(c, `INSERT INTO tools (name, kind) VALUES ('t1', 'ftp')`)).code).toBe('23514');
    expect((await pgError(c, `INSERT INTO tools (name, kind, method) VALUES ('t2', 'http', 'get')`)).code).toBe('23514');
  });

  it('keeps LLM key material consistent: ciphertext and its KMS key go together', async () => {
    const err = await pgError(
      c,
      `INSERT INTO tenant_llm_settings (tenant_id, model_id, api_key_ciphertext) VALUES ($1, $2, '\\x01'::bytea)`,
      [tenantId, modelId],
    );
    expect(err.constraint).toBe('tenant_llm_settings_ciphertext_has_key');
    expect((await pgError(
      c,
      `INSERT INTO tenant_llm_settings (tenant_id, model_id, api_key_secret_version) VALUES ($1, $2, 'v1')`,
      [tenantId, modelId],
    )).constraint).toBe('tenant_llm_settings_version_has_secret');
    expect((await pgError(
      c,
      `INSERT INTO tenant_llm_settings (tenant_id, model_id, purpose) VALUES ($1, $2, 'Not A Purpose')`,
      [tenantId, modelId],
    )).constraint).toBe('tenant_llm_settings_purpose_format');
  });

  it('keeps at most one active inbound key per tenant and requires revoked_at on revoked keys', async () => {
    await c.query(`INSERT INTO tenant_api_keys (tenant_id, prefix, key_hash) VALUES ($1, 'tk_etms_1', 'h1')`, [tenantId]);
    expect((await pgError(c, `INSERT INTO tenant_api_keys (tenant_id, prefix, key_hash) VALUES ($1, 'tk_etms_2', 'h2')`, [tenantId])).constraint)
      .toBe('tenant_api_keys_one_active_per_tenant');
    expect((await pgError(c, `INSERT INTO tenant_api_keys (tenant_id, prefix, key_hash, status) VALUES ($1, 'tk_etms_3', 'h3', 'revoked')`, [tenantId])).constraint)
      .toBe('tenant_api_keys_revoked_has_time');
    expect((await pgError(c, `INSERT INTO tenant_api_keys (tenant_id, prefix, key_hash, status) VALUES ($1, 'tk_etms_4', 'h4', 'lost')`, [tenantId])).constraint)
      .toBe('tenant_api_keys_status_valid');
  });

  it('rejects unknown migration run triggers and outcomes, and a finished run still marked running', async () => {
    expect((await pgError(c, `INSERT INTO migration_runs (trigger, stage, command) VALUES ('cron', 'dev', 'up')`)).constraint)
      .toBe('migration_runs_trigger_valid');
    expect((await pgError(c, `INSERT INTO migration_runs (trigger, stage, command, outcome) VALUES ('local', 'dev', 'up', 'ok')`)).constraint)
      .toBe('migration_runs_outcome_valid');
    expect((await pgError(c, `INSERT INTO migration_runs (trigger, stage, command, finished_at) VALUES ('local', 'dev', 'up', now())`)).constraint)
      .toBe('migration_runs_running_not_finished');
  });

  it('restricts deleting a catalog agent still granted to a tenant, and cascades a tenant delete', async () => {
    const agent = (await c.query(`INSERT INTO agents (name) VALUES ('DebtAgent') RETURNING id`)).rows[0].id;
    const doomed = await insertTenant(c, 'doomed');
    await c.query(`INSERT INTO tenant_agents (tenant_id, agent_id) VALUES ($1, $2)`, [doomed, agent]);
    await c.query(`INSERT INTO users (tenant_id, email) VALUES ($1, 'a@doomed.local')`, [doomed]);
    // restrict_violation since PostgreSQL 18, foreign_key_violation before.
    expect(['23001', '23503']).toContain((await pgError(c, `DELETE FROM agents WHERE id = $1`, [agent])).code);
    await c.query(`DELETE FROM tenants WHERE id = $1`, [doomed]);
    const left = await c.query(
      `SELECT (SELECT count(*) FROM tenant_agents WHERE tenant_id = $1)::int AS agents,
              (SELECT count(*) FROM users WHERE tenant_id = $1)::int AS users`,
      [doomed],
    );
    expect(left.rows[0]).toEqual({ agents: 0, users: 0 });
  });
});

describe('updated_at', () => {
  it('moves when a row changes, stays when an update changes nothing, and respects an explicit value', async () => {
    const id = await insertTenant(c, 'clocked');
    await c.query(`UPDATE tenants SET updated_at = '2000-01-01' WHERE id = $1`, [id]);
    const stamp = async () => (await c.query(`SELECT updated_at FROM tenants WHERE id = $1`, [id])).rows[0].updated_at as Date;
    // A same-value update (what a naive re-seed would issue) leaves the timestamp alone.
    await c.query(`UPDATE tenants SET name = name WHERE id = $1`, [id]);
    expect((await stamp()).toISOString()).toBe(new Date('2000-01-01').toISOString());
    await c.query(`UPDATE tenants SET name = 'Clocked Inc' WHERE id = $1`, [id]);
    expect((await stamp()).getTime()).toBeGreaterThan(Date.now() - 60_000);
  });

  it('has a trigger on every table with an updated_at column', async () => {
    const { rows } = await c.query(`
      SELECT c.table_name FROM information_schema.columns c
      WHERE c.table_schema = 'public' AND c.column_name = 'updated_at'
        AND NOT EXISTS (
          SELECT 1 FROM pg_trigger t
          WHERE t.tgrelid = format('public.%I', c.table_name)::regclass AND t.tgfoid = 'public.set_updated_at'::regproc)`);
    expect(rows).toEqual([]);
  });
});
