/** The migrations themselves: they apply on an empty database, revert to nothing, and re-apply. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createTestDatabase, serverUrl, type TestDatabase } from '../support/db.ts';
import { APP_ROLE, MIGRATIONS_DIR, migrate } from './support.ts';

const files = readdirSync(MIGRATIONS_DIR)
  .filter((f) => /^\d{4}_[a-z0-9_]+\.(sql|ts)$/.test(f))
  .sort();
const names = files.map((f) => f.replace(/\.(sql|ts)$/, ''));

async function publicTables(db: TestDatabase): Promise<string[]> {
  const c = await db.client();
  const { rows } = await c.query<{ tablename: string }>(
    `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`,
  );
  return rows.map((r) => r.tablename);
}

describe('migrations folder', () => {
  it('uses 4-digit prefixes and both SQL and TypeScript formats', () => {
    expect(readdirSync(MIGRATIONS_DIR).filter((f) => !f.startsWith('.'))).toEqual(files);
    expect(files.some((f) => f.endsWith('.sql'))).toBe(true);
    expect(files.some((f) => f.endsWith('.ts'))).toBe(true);
    expect(new Set(names.map((n) => n.slice(0, 4))).size).toBe(names.length);
  });
});

describe('apply and revert', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase('schema_mig');
  });
  afterEach(async () => {
    await db.drop();
  });

  it('applies every migration on an empty database, in file order', async () => {
    expect(await migrate(db.url)).toEqual(names);
    const c = await db.client();
    const { rows } = await c.query<{ name: string }>(`SELECT name FROM pgmigrations ORDER BY id`);
    expect(rows.map((r) => r.name)).toEqual(names);
    expect(await publicTables(db)).toEqual([
      'action_logs', 'agent_tasks', 'agent_tools', 'agents', 'audit_log', 'llm_models', 'migration_runs',
      'pgmigrations', 'tenant_agents', 'tenant_api_keys', 'tenant_llm_settings', 'tenants', 'tools', 'users',
    ]);
    // A second run has nothing left to do.
    expect(await migrate(db.url)).toEqual([]);
  });

  it('reverts to zero, leaving only the migrations table and the cluster-wide role, and applies again', async () => {
    await migrate(db.url);
    expect(await migrate(db.url, 'down', Infinity)).toEqual([...names].reverse());
    expect(await publicTables(db)).toEqual(['pgmigrations']);
    const c = await db.client();
    const leftovers = await c.query(
      `SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'`,
    );
    expect(leftovers.rows).toEqual([]);
    // Roles are cluster-wide and may serve other databases: down revokes but never drops.
    const role = await c.query(`SELECT rolcanlogin FROM pg_roles WHERE rolname = $1`, [APP_ROLE]);
    expect(role.rows).toEqual([{ rolcanlogin: false }]);
    // PUBLIC keeps USAGE on schema public by default; what must be gone is this database's explicit grant.
    const acl = await c.query<{ acl: string }>(`SELECT coalesce(nspacl::text, '') AS acl FROM pg_namespace WHERE nspname = 'public'`);
    expect(acl.rows[0]!.acl).not.toContain(`${APP_ROLE}=`);

    expect(await migrate(db.url)).toEqual(names);
    expect(await publicTables(db)).toContain('tenants');
  });

  it('reverts each migration one at a time, each down leaving the previous state', async () => {
    await migrate(db.url);
    const c = await db.client();
    // Down of the RLS migration alone: no policy, no RLS, no privilege left for the role.
    expect(await migrate(db.url, 'down', 1)).toEqual([names.at(-1)]);
    const rls = await c.query(
      `SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND (relrowsecurity OR relacl::text LIKE $1)`,
      [`%${APP_ROLE}=%`],
    );
    expect(rls.rows).toEqual([]);
    expect((await c.query(`SELECT count(*)::int AS n FROM pg_policies`)).rows[0].n).toBe(0);
    for (let left = names.length - 1; left > 0; left--) {
      expect(await migrate(db.url, 'down', 1)).toEqual([names[left - 1]]);
    }
    expect(await publicTables(db)).toEqual(['pgmigrations']);
  });

  it('applies concurrently in several databases of one cluster (the role is created race-safely)', async () => {
    const others = await Promise.all([1, 2, 3].map(() => createTestDatabase('schema_race')));
    try {
      const results = await Promise.all([db, ...others].map((d) => migrate(d.url)));
      for (const r of results) expect(r).toEqual(names);
    } finally {
      await Promise.all(others.map((d) => d.drop()));
    }
  });
});

describe('role creation block', () => {
  // The real DO block from the RLS migration, aimed at a throwaway role name so the race can be staged
  // deterministically: session 1 creates the role and holds its transaction open, session 2 runs the
  // same block (its existence check cannot see the uncommitted role, so it tries CREATE ROLE and waits),
  // then session 1 commits and session 2 must finish without error.
  const source = readFileSync(join(MIGRATIONS_DIR, '0008_tenant_app_rls.sql'), 'utf8');
  const block = /DO \$\$[\s\S]*?\n\$\$;/.exec(source)?.[0];

  it('is idempotent and survives a concurrent creator', async () => {
    expect(block, 'DO block in 0008_tenant_app_rls.sql').toBeTruthy();
    const role = `tenant_app_race_${randomBytes(4).toString('hex')}`;
    const sql = block!.replaceAll('tenant_app', role);
    const db = await createTestDatabase('schema_role');
    try {
      const [s1, s2] = [await db.client(), await db.client()];
      await s1.query('BEGIN');
      await s1.query(sql);
      await s2.query(`SET lock_timeout = '10s'`);
      // Settles to the error (or null), so a failure is reported by the assertion below, not as unhandled.
      const second = s2.query(sql).then(() => null, (e: Error) => e);
      // Wait until session 2 reached the CREATE ROLE and blocks on session 1's uncommitted row.
      const observer = await db.client();
      let waiting = 0;
      for (let i = 0; i < 100 && waiting === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        const { rows } = await observer.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%' || $1 || '%'`,
          [role],
        );
        waiting = rows[0].n;
      }
      expect(waiting).toBe(1);
      await s1.query('COMMIT');
      expect(await second).toBeNull();
      // And once more, now that it exists.
      await expect(s2.query(sql)).resolves.toBeDefined();
      const { rows } = await s2.query(`SELECT rolcanlogin FROM pg_roles WHERE rolname = $1`, [role]);
      expect(rows).toEqual([{ rolcanlogin: false }]);
    } finally {
      await db.drop();
      // The throwaway role is cluster-wide: remove it (its database is gone, so it owns nothing).
      const admin = new pg.Client({ connectionString: serverUrl() });
      await admin.connect();
      await admin.query(`DROP ROLE IF EXISTS ${role}`).finally(() => admin.end());
    }
  });
});
