/**
 * The engine's run history: it creates its table for any migrations folder, adopts the table the sample
 * schema's 0002 created (same shape in the end), records every run with the backend that runs it, and
 * closes runs whose backend is gone as `abandoned`.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { runJob } from '../../functions/core/job.ts';
import { closeRunAsFailed, listRuns, recordRun, RunRecord } from '../../functions/core/run-history.ts';
import { ensureRunsTable, runsTableOf } from '../../functions/core/runs-table.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { BASIC, fixture, RUNS, type Fixture } from './fixtures.ts';

let db: TestDatabase;
let fx: Fixture;
let other: TestDatabase | undefined;
beforeEach(async () => {
  db = await createTestDatabase('runs');
});
afterEach(async () => {
  fx?.cleanup();
  await db.drop();
  await other?.drop();
  other = undefined;
});

/** Columns, constraints (with definitions) and indexes of a table: what "the same shape" means. */
async function shape(c: pg.Client, table = 'public.migration_runs') {
  const columns = (await c.query(
    `SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull, pg_get_expr(d.adbin, d.adrelid) AS dflt
       FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attname`, [table])).rows;
  const constraints = (await c.query(
    `SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = $1::regclass ORDER BY conname`, [table])).rows;
  const indexes = (await c.query(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname || '.' || tablename = $1 ORDER BY 1`, [table])).rows;
  return { columns, constraints, indexes };
}

const job = (dir: string, extra: Partial<Parameters<typeof runJob>[0]> = {}) =>
  runJob({ target: { databaseUrl: db.url, dir }, trigger: 'local', stage: 'local', command: 'up', ...extra });

describe('run-history table', () => {
  it('created by the engine for a foreign folder has the shape of the adopted 0002 table', async () => {
    fx = fixture(BASIC);
    await job(fx.dir);
    other = await createTestDatabase('runs0002');
    const legacy = fixture({ '0001_runs.sql': RUNS });
    try {
      await runJob({ target: { databaseUrl: other.url, dir: legacy.dir }, trigger: 'local', stage: 'local', command: 'up' });
    } finally {
      legacy.cleanup();
    }
    const a = await shape(await db.client());
    const b = await shape(await other.client());
    expect(a.columns).toEqual(b.columns);
    expect(a.constraints).toEqual(b.constraints);
    expect(a.indexes.map((i) => i.indexdef)).toEqual(b.indexes.map((i) => i.indexdef));
    expect(a.constraints.find((c) => c.conname === 'migration_runs_outcome_valid')!.def).toContain("'abandoned'");
  });

  it('leaves creation to the pending legacy 0002 migration (which has no IF NOT EXISTS) and records that first run', async () => {
    fx = fixture({ '0001_first.sql': '-- Up Migration\nCREATE TABLE first (id int);\n', '0002_migration_runs.sql': RUNS, ...{ '0003_widgets.sql': BASIC['0001_widgets.sql']! } });
    const result = await job(fx.dir);
    expect(result.applied).toEqual(['0001_first', '0002_migration_runs', '0003_widgets']);
    const rows = await listRuns(await db.client());
    expect(rows).toEqual([expect.objectContaining({ id: result.runId, outcome: 'succeeded', migrationsApplied: result.applied })]);
  });

  it('adopts a 0.1.0 table: adds the columns, moves deploy fingerprints out of the command text, keeps every row', async () => {
    const c = await db.client();
    await c.query(RUNS.split('-- Down Migration')[0]!);
    await c.query(`INSERT INTO migration_runs (trigger, stage, actor, command, outcome, finished_at) VALUES
      ('deploy', 'staging', 'cloudformation:X', 'deploy:Create content=${'a'.repeat(64)} nonce=2026-01-01T00:00:00.000Z', 'succeeded', now()),
      ('deploy', 'staging', 'cloudformation:X', 'deploy:Update content=${'b'.repeat(64)} nonce=-', 'failed', now()),
      ('local', 'local', 'dev', 'dev', 'running', NULL)`);
    await ensureRunsTable(c, runsTableOf());
    const rows = await listRuns(c);
    expect(rows).toHaveLength(3);
    const byCommand = Object.fromEntries(rows.map((r) => [r.command.split(' ')[0], r]));
    expect(byCommand['deploy:Create']).toMatchObject({ contentHash: 'a'.repeat(64), deployNonce: '2026-01-01T00:00:00.000Z' });
    expect(byCommand['deploy:Update']).toMatchObject({ contentHash: 'b'.repeat(64), deployNonce: null });
    expect(byCommand.dev).toMatchObject({ contentHash: null, outcome: 'running' });
    // Idempotent: a second adoption changes nothing (one catalog query, no DDL).
    const before = await shape(c);
    await ensureRunsTable(c, runsTableOf());
    expect(await shape(c)).toEqual(before);
    // A 0.1.0 row without a backend pid is never guessed dead.
    await job((fx = fixture(BASIC)).dir);
    expect((await listRuns(c)).find((r) => r.command === 'dev')!.outcome).toBe('running');
  });

  it('uses a configured table name, schema included', async () => {
    fx = fixture(BASIC);
    const result = await runJob({ target: { databaseUrl: db.url, dir: fx.dir, runsTable: 'audit.deploy_runs' }, trigger: 'local', stage: 'local', command: 'up' });
    const c = await db.client();
    expect((await c.query(`SELECT to_regclass('public.migration_runs') AS t`)).rows[0].t).toBeNull();
    expect((await listRuns(c, { runsTable: 'audit.deploy_runs' })).map((r) => r.id)).toEqual([result.runId]);
    expect(() => runsTableOf('x; DROP TABLE y')).toThrow(/Invalid runs table/);
  });

  it('two first runs at once both record (the DDL is serialized)', async () => {
    fx = fixture(BASIC);
    const [a, b] = await Promise.all([job(fx.dir), job(fx.dir)]);
    const ids = (await listRuns(await db.client())).map((r) => r.id).sort();
    expect(ids).toEqual([a.runId, b.runId].sort());
  });
});

describe('abandoned runs', () => {
  it('a running row whose backend is gone is closed as abandoned by the next run; a live one is not', async () => {
    fx = fixture(BASIC);
    await job(fx.dir);
    const table = runsTableOf();
    // Two runs left open: one whose session then dies, one still alive.
    const dying = new pg.Client({ connectionString: db.url });
    const alive = new pg.Client({ connectionString: db.url });
    await dying.connect();
    await alive.connect();
    try {
      const dead = await RunRecord.open(dying, table, { trigger: 'local', stage: 'local', command: 'up' });
      const live = await RunRecord.open(alive, table, { trigger: 'local', stage: 'local', command: 'seed' });
      const { rows: [{ pid }] } = await dying.query('SELECT pg_backend_pid() AS pid');
      dying.on('error', () => {});
      const c = await db.client();
      await c.query('SELECT pg_terminate_backend($1)', [pid]);
      // Wait until the server has removed the backend (termination is asynchronous).
      for (let i = 0; i < 100 && (await c.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rows.length; i++) await new Promise((r) => setTimeout(r, 50));
      const next = await job(fx.dir);
      const rows = await listRuns(c);
      const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
      expect(byId[dead.id]).toMatchObject({ outcome: 'abandoned', finishedAt: expect.any(String) });
      expect(byId[dead.id]!.error).toContain(`backend pid ${pid}`);
      expect(byId[dead.id]!.error).toContain(`closed by run ${next.runId}`);
      expect(byId[live.id]!.outcome).toBe('running');
      await live.finish('succeeded');
      expect((await listRuns(c, { id: live.id }))[0]!.outcome).toBe('succeeded');
    } finally {
      await dying.end().catch(() => {});
      await alive.end().catch(() => {});
    }
  });

  it('recordRun stores the outcome, details and the masked error', async () => {
    const c = await db.client();
    const ok = await recordRun(c, { trigger: 'local', stage: 'local', command: 'repair' }, async () => ({ result: 1, fields: { details: { changes: [] } } }));
    await expect(
      recordRun(c, { trigger: 'local', stage: 'local', command: 'baseline --to 0001' }, async () => {
        throw new Error("ALTER ROLE x PASSWORD 'hunter2-runs' failed");
      }),
    ).rejects.toThrow(/hunter2-runs/);
    const rows = await listRuns(c);
    expect(rows.map((r) => [r.command, r.outcome])).toEqual([['baseline --to 0001', 'failed'], ['repair', 'succeeded']]);
    expect(rows[0]!.error).not.toContain('hunter2-runs');
    expect((await listRuns(c, { id: ok.runId }))[0]!.details).toEqual({ changes: [] });
  });

  it('a lost deploy run closed from a fresh session keeps its fingerprint, also in a 0.1.0 table', async () => {
    const c = await db.client();
    await c.query(RUNS.split('-- Down Migration')[0]!);
    const fp = { contentHash: 'c'.repeat(64), nonce: '2026-02-02T00:00:00.000Z' };
    const runId = '11111111-1111-4111-8111-111111111111';
    expect(await closeRunAsFailed(c, { runId, trigger: 'deploy', stage: 'staging', actor: 'cloudformation:X', command: 'deploy:Update', fingerprint: fp, message: "lost; PASSWORD 'hunter2-lost'" })).toBe(true);
    const [row] = await listRuns(c, { id: runId });
    expect(row).toMatchObject({ outcome: 'failed', contentHash: fp.contentHash, deployNonce: fp.nonce });
    expect(row!.error).not.toContain('hunter2-lost');
  });
});
