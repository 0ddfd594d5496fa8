/** agent_tasks as a work queue: concurrent claims with FOR UPDATE SKIP LOCKED and the partial index. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { CLAIM_SQL, actAs, insertTenant, migrate, pgError } from './support.ts';

let db: TestDatabase;
let owner: pg.Client;
let tenantA: string;
let tenantB: string;
let agentId: string;

async function addTasks(tenantId: string, n: number, status = 'pending'): Promise<void> {
  await owner.query(
    `INSERT INTO agent_tasks (tenant_id, agent_id, status, priority, locked_at, locked_by, payload)
     SELECT $1, $2, $3, i % 3, CASE WHEN $3 = 'running' THEN now() END, CASE WHEN $3 = 'running' THEN 'w' END,
            jsonb_build_object('i', i)
     FROM generate_series(1, $4) AS i`,
    [tenantId, agentId, status, n],
  );
}

beforeAll(async () => {
  db = await createTestDatabase('schema_queue');
  await migrate(db.url);
  owner = await db.client();
  tenantA = await insertTenant(owner, 'queue-a');
  tenantB = await insertTenant(owner, 'queue-b');
  agentId = (await owner.query(`INSERT INTO agents (name) VALUES ('SupervisorAgent') RETURNING id`)).rows[0].id;
});

afterAll(async () => {
  await db?.drop();
});

describe('agent_tasks claim', () => {
  it('gives two open transactions different tasks without waiting on each other', async () => {
    await owner.query(`DELETE FROM agent_tasks`);
    await addTasks(tenantA, 5);
    const [w1, w2] = [await db.client(), await db.client()];
    // Were the second claim to block on the first one's row lock, this would fail fast instead of hanging.
    await w2.query(`SET lock_timeout = '2s'`);
    await w1.query('BEGIN');
    await w2.query('BEGIN');
    const t1 = (await w1.query(CLAIM_SQL, ['worker-1'])).rows;
    const t2 = (await w2.query(CLAIM_SQL, ['worker-2'])).rows;
    expect(t1).toHaveLength(1);
    expect(t2).toHaveLength(1);
    expect(t1[0].id).not.toBe(t2[0].id);
    await w1.query('COMMIT');
    await w2.query('COMMIT');
    const { rows } = await owner.query(
      `SELECT id::int AS id, status, locked_by, attempts FROM agent_tasks WHERE status = 'running' ORDER BY locked_by`,
    );
    expect(rows).toEqual([
      { id: t1[0].id, status: 'running', locked_by: 'worker-1', attempts: 1 },
      { id: t2[0].id, status: 'running', locked_by: 'worker-2', attempts: 1 },
    ]);
  });

  it('hands every pending task to exactly one of four concurrent workers, highest priority first', async () => {
    await owner.query(`DELETE FROM agent_tasks`);
    await addTasks(tenantA, 40);
    const workers = await Promise.all([1, 2, 3, 4].map(() => db.client()));
    const claimed: number[][] = await Promise.all(
      workers.map(async (w, i) => {
        const mine: number[] = [];
        for (;;) {
          const { rows } = await w.query(CLAIM_SQL, [`worker-${i}`]);
          if (rows.length === 0) return mine;
          mine.push(rows[0].id);
        }
      }),
    );
    const all = claimed.flat();
    expect(all).toHaveLength(40);
    expect(new Set(all).size).toBe(40);
    const left = await owner.query(`SELECT count(*)::int AS n FROM agent_tasks WHERE status = 'pending'`);
    expect(left.rows[0].n).toBe(0);
  });

  it('claims only the current tenant’s tasks for the application role', async () => {
    await owner.query(`DELETE FROM agent_tasks`);
    await addTasks(tenantA, 3);
    await addTasks(tenantB, 3);
    const w = await db.client();
    await actAs(w, tenantB);
    const got: string[] = [];
    for (;;) {
      const { rows } = await w.query(CLAIM_SQL, ['app-worker']);
      if (rows.length === 0) break;
      got.push(rows[0].tenant_id);
    }
    expect(got).toEqual([tenantB, tenantB, tenantB]);
    const a = await owner.query(`SELECT count(*)::int AS n FROM agent_tasks WHERE tenant_id = $1 AND status = 'pending'`, [tenantA]);
    expect(a.rows[0].n).toBe(3);
  });

  it('does not claim tasks scheduled for later', async () => {
    await owner.query(`DELETE FROM agent_tasks`);
    await owner.query(
      `INSERT INTO agent_tasks (tenant_id, agent_id, run_after) VALUES ($1, $2, now() + interval '1 hour')`,
      [tenantA, agentId],
    );
    expect((await owner.query(CLAIM_SQL, ['w'])).rows).toEqual([]);
  });

  it('refuses a running task without a holder', async () => {
    const err = await pgError(
      owner,
      `INSERT INTO agent_tasks (tenant_id, agent_id, status) VALUES ($1, $2, 'running')`,
      [tenantA, agentId],
    );
    expect(err.code).toBe('23514');
    expect(err.constraint).toBe('agent_tasks_running_is_locked');
  });
});

describe('the claim index', () => {
  it('is partial on pending tasks, in claim order', async () => {
    const { rows } = await owner.query<{ indexname: string; indexdef: string }>(
      `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'agent_tasks' AND indexname LIKE '%claim%' ORDER BY indexname`,
    );
    expect(rows.map((r) => r.indexname)).toEqual(['agent_tasks_claim_idx', 'agent_tasks_tenant_claim_idx']);
    expect(rows[0]!.indexdef).toMatch(/\(priority DESC, run_after, id\) WHERE \(status = 'pending'::text\)$/);
    expect(rows[1]!.indexdef).toMatch(/\(tenant_id, priority DESC, run_after, id\) WHERE \(status = 'pending'::text\)$/);
  });

  it('is what the planner uses for the claim query on a queue full of finished work', async () => {
    await owner.query(`DELETE FROM agent_tasks`);
    await addTasks(tenantA, 20_000, 'done');
    await addTasks(tenantB, 20_000, 'done');
    await addTasks(tenantA, 20);
    await owner.query('ANALYZE agent_tasks');
    const selectPart = `SELECT id FROM agent_tasks WHERE status = 'pending' AND run_after <= now()
                        ORDER BY priority DESC, run_after, id LIMIT 1 FOR UPDATE SKIP LOCKED`;
    const plan = JSON.stringify((await owner.query(`EXPLAIN (FORMAT JSON) ${selectPart}`)).rows[0]['QUERY PLAN']);
    expect(plan).toContain('"Index Name":"agent_tasks_claim_idx"');
    expect(plan).not.toContain('Seq Scan');
    // Through RLS (tenant_id = the current tenant) one of the two partial indexes serves it too.
    const app = await db.client();
    await actAs(app, tenantA);
    const appPlan = JSON.stringify((await app.query(`EXPLAIN (FORMAT JSON) ${selectPart}`)).rows[0]['QUERY PLAN']);
    expect(appPlan).toMatch(/"Index Name":"agent_tasks_(tenant_)?claim_idx"/);
    expect(appPlan).not.toContain('Seq Scan');
  });
});
