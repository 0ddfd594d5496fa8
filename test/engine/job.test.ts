import { createServer, connect as tcpConnect, type Server } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect } from '../../functions/core/db.ts';
import { runJob } from '../../functions/core/job.ts';
import { MigrationError } from '../../functions/core/errors.ts';
import { freePort } from '../../local/embedded-postgres.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { BASIC, fixture, RUNS, type Fixture } from './fixtures.ts';

let db: TestDatabase;
let fx: Fixture;
beforeEach(async () => {
  db = await createTestDatabase('job');
});
afterEach(async () => {
  fx?.cleanup();
  await db.drop();
});

const runs = async () =>
  (await (await db.client()).query(
    'SELECT id, trigger, stage, actor, command, migrations_applied, seed_summary, outcome, error, finished_at IS NOT NULL AS finished FROM migration_runs ORDER BY started_at',
  )).rows;

describe('runJob', () => {
  it('records the run that creates migration_runs, with applied names and the seed summary', async () => {
    fx = fixture({ '0000_runs.sql': RUNS, ...BASIC });
    const seen: string[] = [];
    const result = await runJob({
      target: { databaseUrl: db.url, dir: fx.dir },
      trigger: 'deploy', stage: 'staging', actor: 'cfn', command: 'deploy:Create',
      seed: async (client, runId) => {
        seen.push(runId);
        const { rows } = await client.query('SELECT count(*)::int AS n FROM widgets');
        return { widgets: rows[0].n };
      },
    });
    expect(result.applied).toEqual(['0000_runs', '0001_widgets', '0002_gadgets', '0003_widget_color']);
    expect(result.lastMigration).toBe('0003_widget_color');
    expect(result.seed).toEqual({ widgets: 1 });
    expect(seen).toEqual([result.runId]);
    expect(await runs()).toEqual([{
      id: result.runId, trigger: 'deploy', stage: 'staging', actor: 'cfn', command: 'deploy:Create',
      migrations_applied: result.applied, seed_summary: { widgets: 1 }, outcome: 'succeeded', error: null, finished: true,
    }]);
    // The columns `migrator runs` prints besides these: last migration and duration, as the job measured it.
    const timing = (await (await db.client()).query('SELECT last_migration, duration_ms FROM migration_runs WHERE id = $1', [result.runId])).rows[0];
    expect(timing).toEqual({ last_migration: '0003_widget_color', duration_ms: expect.any(Number) });
    expect(timing.duration_ms).toBeLessThanOrEqual(result.durationMs);
    // Run ids of applied migrations point at the run.
    const c = await db.client();
    expect((await c.query('SELECT DISTINCT run_id FROM pgmigrations_checksums')).rows).toEqual([{ run_id: result.runId }]);

    const again = await runJob({ target: { databaseUrl: db.url, dir: fx.dir }, trigger: 'local', stage: 'local', command: 'dev' });
    expect(again.applied).toEqual([]);
    const rows = await runs();
    expect(rows).toHaveLength(2);
    expect(rows[1]).toMatchObject({ id: again.runId, trigger: 'local', outcome: 'succeeded', migrations_applied: [] });
  });

  it('records a failed run with the error, and rethrows it', async () => {
    fx = fixture({ '0001_runs.sql': RUNS });
    await runJob({ target: { databaseUrl: db.url, dir: fx.dir }, trigger: 'invoke', stage: 'staging', command: 'migrate' });
    fx.write('0002_bad.sql', '-- Up Migration\nSELECT 1/0;\n');
    const err = await runJob({ target: { databaseUrl: db.url, dir: fx.dir }, trigger: 'invoke', stage: 'staging', command: 'migrate' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    const failed = (await runs())[1];
    expect(failed).toMatchObject({ outcome: 'failed', finished: true, migrations_applied: [] });
    expect(failed.error).toMatch(/0002_bad.*division by zero.*22012/);
    expect((await (await db.client()).query('SELECT duration_ms FROM migration_runs WHERE outcome = $1', ['failed'])).rows[0].duration_ms).toBeGreaterThanOrEqual(0);

    fx.remove('0002_bad.sql');
    const seedErr = await runJob({
      target: { databaseUrl: db.url, dir: fx.dir }, trigger: 'invoke', stage: 'staging', command: 'seed',
      seed: async () => { throw new Error('tenant acme: unknown agent FooAgent'); },
    }).catch((e: unknown) => e);
    expect((seedErr as Error).message).toMatch(/FooAgent/);
    expect((await runs())[2]).toMatchObject({ outcome: 'failed', error: 'tenant acme: unknown agent FooAgent' });
  });

  it('masks a password the failing statement quotes, in the error and in migration_runs', async () => {
    fx = fixture({ '0001_runs.sql': RUNS });
    await runJob({ target: { databaseUrl: db.url, dir: fx.dir }, trigger: 'invoke', stage: 'staging', command: 'migrate' });
    // Fails (no such role to alter) while quoting a password in the statement.
    fx.write('0002_role.sql', "-- Up Migration\nALTER ROLE no_such_role_job_test PASSWORD 'hunter2-job';\n");
    const err = await runJob({ target: { databaseUrl: db.url, dir: fx.dir }, trigger: 'invoke', stage: 'staging', command: 'migrate' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as Error).message).toMatch(/0002_role.*PASSWORD '\*\*\*'/);
    expect((err as Error).message).not.toContain('hunter2-job');
    const failed = (await runs())[1];
    expect(failed.outcome).toBe('failed');
    expect(failed.error).toMatch(/0002_role/);
    expect(failed.error).not.toContain('hunter2-job');
  });

  it('records runs of a foreign folder (no run-history migration): the engine creates the table', async () => {
    fx = fixture(BASIC);
    const c = await db.client();
    const result = await runJob({ target: { client: c, dir: fx.dir }, trigger: 'local', stage: 'local', command: 'dev' });
    expect(result.applied).toHaveLength(3);
    expect(await runs()).toEqual([expect.objectContaining({ id: result.runId, outcome: 'succeeded', migrations_applied: result.applied })]);
    expect((await c.query('SELECT 1 AS ok')).rows[0].ok).toBe(1); // the caller's client is left open and usable
  });
});

describe('connect', () => {
  let proxy: Server | undefined;
  afterEach(() => { proxy?.close(); });

  it('retries with backoff until a waking database accepts connections', async () => {
    const real = new URL(db.url);
    const port = await freePort();
    const retries: number[] = [];
    // The "database" only starts listening after a while, like a resuming cluster.
    setTimeout(() => {
      proxy = createServer((socket) => {
        const upstream = tcpConnect(Number(real.port), real.hostname);
        socket.pipe(upstream).pipe(socket);
        socket.on('error', () => upstream.destroy());
        upstream.on('error', () => socket.destroy());
      }).listen(port, '127.0.0.1');
    }, 500);
    const url = new URL(db.url);
    url.port = String(port);
    const client = await connect(url.toString(), { retries: 8, initialDelayMs: 100, onRetry: (i) => retries.push(i.attempt) });
    try {
      expect((await client.query('SELECT current_database() AS d')).rows[0].d).toBe(db.name);
      expect(retries.length).toBeGreaterThanOrEqual(1);
    } finally {
      await client.end();
    }
  });

  it('gives up after the retries with a message that names host and database but not the password', async () => {
    const port = await freePort();
    const started = Date.now();
    const err = (await connect(`postgres://u:sup3rsecret@127.0.0.1:${port}/appdb`, { retries: 2, initialDelayMs: 50 })
      .catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(new RegExp(`127\\.0\\.0\\.1:${port}/appdb after 3 attempt\\(s\\)`));
    expect(err.message).not.toContain('sup3rsecret');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('does not retry bad credentials', async () => {
    const url = new URL(db.url);
    url.username = 'nobody_here';
    url.password = 'wrong';
    const err = (await connect(url.toString(), { retries: 5, initialDelayMs: 2_000 }).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/after 1 attempt/);
  });
});
