/** audit_log is append-only for everyone: the owner and superusers included. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { APPEND_ONLY_SQLSTATE, actAs, insertTenant, migrate, pgError } from './support.ts';

let db: TestDatabase;
let c: pg.Client;
let tenantId: string;

beforeAll(async () => {
  db = await createTestDatabase('schema_audit');
  await migrate(db.url);
  c = await db.client();
  tenantId = await insertTenant(c, 'audited');
  await c.query(
    `INSERT INTO audit_log (tenant_id, actor, action, resource_type, resource_id, changes)
     VALUES ($1, 'admin@audited.local', 'user.invite', 'user', 'u1', '{"role": "admin"}')`,
    [tenantId],
  );
});

afterAll(async () => {
  await db?.drop();
});

describe('audit_log', () => {
  it('accepts inserts and numbers them with an identity', async () => {
    const { rows } = await c.query(
      `INSERT INTO audit_log (tenant_id, action) VALUES ($1, 'tenant.update') RETURNING id, created_at`,
      [tenantId],
    );
    expect(Number(rows[0].id)).toBeGreaterThan(1);
    expect(rows[0].created_at).toBeInstanceOf(Date);
  });

  it('runs here as a superuser, so the refusals below are not privilege errors', async () => {
    expect((await c.query(`SELECT rolsuper FROM pg_roles WHERE rolname = current_user`)).rows[0].rolsuper).toBe(true);
  });

  it.each([
    ['UPDATE', `UPDATE audit_log SET actor = 'someone else'`],
    ['UPDATE', `UPDATE audit_log SET action = 'x' WHERE false`],
    ['DELETE', `DELETE FROM audit_log`],
    ['DELETE', `DELETE FROM audit_log WHERE id = -1`],
    ['TRUNCATE', `TRUNCATE audit_log`],
  ])('rejects %s for the owner with SQLSTATE AO001: %s', async (op, sql) => {
    const before = (await c.query(`SELECT count(*)::int AS n, max(actor) AS actor FROM audit_log`)).rows[0];
    const err = await pgError(c, sql);
    expect(err.code).toBe(APPEND_ONLY_SQLSTATE);
    expect(err.message).toBe(`audit_log is append-only: ${op} is not allowed`);
    expect(err.hint).toMatch(/new audit_log row/);
    expect((await c.query(`SELECT count(*)::int AS n, max(actor) AS actor FROM audit_log`)).rows[0]).toEqual(before);
  });

  it('refuses the application role UPDATE and DELETE by privilege, and lets it append for its tenant', async () => {
    const app = await db.client();
    await actAs(app, tenantId);
    expect((await pgError(app, `UPDATE audit_log SET actor = 'x'`)).code).toBe('42501');
    expect((await pgError(app, `DELETE FROM audit_log`)).code).toBe('42501');
    expect((await pgError(app, `TRUNCATE audit_log`)).code).toBe('42501');
    const ins = await app.query(`INSERT INTO audit_log (tenant_id, actor, action) VALUES ($1, 'app', 'chat.start')`, [tenantId]);
    expect(ins.rowCount).toBe(1);
    // System rows (tenant_id NULL) are not the tenant's to see or write.
    expect((await pgError(app, `INSERT INTO audit_log (tenant_id, action) VALUES (NULL, 'system.x')`)).code).toBe('42501');
  });

  it('survives the deletion of its tenant (no cascading delete into the trail)', async () => {
    const gone = await insertTenant(c, 'short-lived');
    await c.query(`INSERT INTO audit_log (tenant_id, action) VALUES ($1, 'tenant.create')`, [gone]);
    await c.query(`DELETE FROM tenants WHERE id = $1`, [gone]);
    expect((await c.query(`SELECT count(*)::int AS n FROM audit_log WHERE tenant_id = $1`, [gone])).rows[0].n).toBe(1);
  });
});
