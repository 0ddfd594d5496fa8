/**
 * No path leaves CloudFormation waiting: with little time left in the invocation, a slow statement, a table
 * lock held by the application, or a run of individually-fast statements that together overrun, all end
 * with a thrown reason before the invocation would time out. Uses the handler from source over an asset
 * folder staged by the same stageAsset() the construct's synth runs.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, connect as tcpConnect, type Server } from 'node:net';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { onEvent } from '../../functions/handlers/custom-resource.ts';
import { stageAsset } from '../../infra/asset/stage.ts';
import { contentHash } from '../../infra/content-hash.ts';
import { computeDeadlines } from '../../functions/handlers/deadlines.ts';
import { createEvent, lambdaContext } from './support/lambda.ts';
import { captureOutput, setupSimEnv, type SimEnv } from './support/sim-env.ts';

let sim: SimEnv;
let work: string;
const savedEnv = { ...process.env };
let output: ReturnType<typeof captureOutput> | undefined;

/** An asset folder (manifest + migrations) for `files`, staged exactly as the construct's synth does it. */
function asset(name: string, files: Record<string, string>) {
  const src = join(work, `${name}-src`);
  mkdirSync(src, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(src, f), text);
  const out = join(work, name);
  const { hash } = contentHash(src);
  mkdirSync(out, { recursive: true });
  stageAsset({ out, migrationsDir: src, hash });
  return { dir: out, props: { Stage: 'staging', ContentHash: hash, RunOn: 'content-change', ResourceName: `Deadline${name}` } };
}

async function run(name: string, files: Record<string, string>, remainingMs: number) {
  const a = asset(name, files);
  const env = sim.lambdaEnv({ environment: {} } as never, {
    STAGE: 'staging',
    SEEDS_ENABLED: 'false',
    ASSET_DIR: a.dir,
    // Generous configured timeouts: only what is left of the invocation may bound them.
    LOCK_TIMEOUT_MS: '600000',
    STATEMENT_TIMEOUT_MS: '600000',
    LOCK_WAIT_TIMEOUT_MS: '600000',
    CONNECT_TIMEOUT_MS: '60000',
  });
  Object.assign(process.env, env);
  const context = lambdaContext({ timeoutMs: remainingMs });
  const linesBefore = output!.lines().length;
  const error = await onEvent(createEvent(a.props) as never, context).then(() => undefined, (e: Error) => e);
  const lines = output!.lines().slice(linesBefore);
  // Which deadline fired: the watchdog logs when it acts; a PostgreSQL timeout ends the run before it.
  const watchdogFired = lines.some((l) => l.includes('the invocation deadline is near'));
  return { error, watchdogFired, context };
}

beforeAll(async () => {
  sim = await setupSimEnv('staging');
  work = mkdtempSync(join(tmpdir(), 'migrator-deadline-'));
  output = captureOutput();
}, 60_000);
afterEach(async () => {
  process.env = { ...savedEnv };
  await sim.client.query('DROP TABLE IF EXISTS pgmigrations, pgmigrations_checksums, slow_target CASCADE');
});
afterAll(async () => {
  output?.restore();
  process.env = savedEnv;
  await sim?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('deadlines inside the invocation', () => {
  it('a statement longer than the time left is cancelled, and the reason says which migration', async () => {
    const r = await run('slow', { '0001_slow.sql': '-- Up Migration\nSELECT pg_sleep(60);\n' }, 16_000);
    expect(r.error?.message).toMatch(/0001_slow/);
    expect(r.error?.message).toMatch(/statement timeout|canceling statement/i);
    // The statement_timeout fitted into the invocation fired, not the last-resort watchdog.
    expect(r.error?.message).not.toMatch(/Stopped at the invocation deadline/);
    expect(r.watchdogFired).toBe(false);
  }, 30_000);

  it('a table lock held by the application makes the migration give up, not wait', async () => {
    await sim.client.query('CREATE TABLE slow_target (id int)');
    const holder = new pg.Client({ connectionString: sim.db.url });
    await holder.connect();
    try {
      await holder.query('BEGIN; LOCK TABLE slow_target IN ACCESS EXCLUSIVE MODE');
      const r = await run('locked', { '0001_alter.sql': '-- Up Migration\nALTER TABLE slow_target ADD COLUMN note text;\n' }, 16_000);
      expect(r.error?.message).toMatch(/0001_alter/);
      expect(r.error?.message).toMatch(/lock timeout|55P03/i);
      expect(r.error?.message).not.toMatch(/Stopped at the invocation deadline/);
      expect(r.watchdogFired).toBe(false);
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      await holder.end();
    }
  }, 30_000);

  it('many statements, each under the statement timeout, are stopped by the watchdog before the invocation ends', async () => {
    const files: Record<string, string> = {};
    for (let i = 1; i <= 6; i++) files[`000${i}_nap.sql`] = '-- Up Migration\nSELECT pg_sleep(2);\n';
    const r = await run('naps', files, 17_000);
    expect(r.error?.message).toMatch(/Stopped at the invocation deadline/);
    expect(r.error?.message).toMatch(/000\d_nap/);
    expect(r.watchdogFired).toBe(true);
    // Stopped part-way: some naps ran, not all (each alone is under the statement timeout).
    const { rows: applied } = await sim.client.query('SELECT count(*)::int AS n FROM pgmigrations');
    expect(applied[0].n).toBeGreaterThan(0);
    expect(applied[0].n).toBeLessThan(6);
    // The session was ended or its statement cancelled: no lock is left behind for the next run.
    const { rows } = await sim.client.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`);
    expect(rows[0].n).toBe(0);
  }, 30_000);

  it('a database still waking up (refusing connections) is retried with backoff until it answers', async () => {
    const target = new URL(sim.db.url);
    const readyAt = Date.now() + 2_500;
    let refused = 0;
    // A TCP front that drops connections until readyAt, then forwards to the real server.
    const proxy: Server = createServer((socket) => {
      if (Date.now() < readyAt) {
        refused++;
        socket.destroy();
        return;
      }
      const upstream = tcpConnect(Number(target.port || 5432), target.hostname);
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const port = (proxy.address() as { port: number }).port;
    await sim.putSecret(JSON.stringify({ host: '127.0.0.1', port, username: sim.role, password: sim.password, dbname: sim.db.name }));
    try {
      const r = await run('waking', { '0001_ok.sql': '-- Up Migration\nCREATE TABLE waking_ok (id int);\n' }, 120_000);
      expect(r.error).toBeUndefined();
      expect(refused).toBeGreaterThan(0);
      expect(output!.lines().some((l) => l.includes('connect failed, retrying'))).toBe(true);
      expect((await sim.client.query(`SELECT to_regclass('public.waking_ok') IS NOT NULL AS ok`)).rows[0].ok).toBe(true);
    } finally {
      await sim.rotatePassword(sim.password); // restores the secret's real shape
      await new Promise((r) => proxy.close(r));
      await sim.client.query('DROP TABLE IF EXISTS waking_ok');
    }
  }, 60_000);

  it('a database that never answers fails within the connect budget, naming where it tried', async () => {
    let accepted = 0;
    const closed: Server = createServer((s) => (accepted++, s.destroy()));
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await sim.putSecret(JSON.stringify({ host: '127.0.0.1', port, username: sim.role, password: sim.password, dbname: sim.db.name }));
    try {
      const r = await run('dead', { '0001_ok.sql': '-- Up Migration\nSELECT 1;\n' }, 25_000);
      // Every attempt the connect budget plans for was made, and then it gave up (before the watchdog).
      const planned = computeDeadlines(25_000, { connectMs: 60_000, lockWaitMs: 600_000, lockTimeoutMs: 600_000, statementMs: 600_000 });
      expect(r.error?.message).toMatch(new RegExp(`Could not connect to PostgreSQL at 127.0.0.1:${port}/${sim.db.name} after ${planned.connectRetries + 1} attempt`));
      expect(accepted).toBe(planned.connectRetries + 1);
      expect(r.error?.message).not.toContain(sim.password);
      expect(r.watchdogFired).toBe(false);
    } finally {
      await sim.rotatePassword(sim.password);
      await new Promise((r) => closed.close(r));
    }
  }, 60_000);
});
