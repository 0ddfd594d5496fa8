/**
 * One deadline budget for the whole invocation, through the bundled asset: Secrets Manager, KMS and
 * PostgreSQL endpoints that accept a connection and never answer. Each case asserts which deadline fired
 * (named in the reason), what CloudFormation is answered, the Failures metric and the run row; never elapsed time.
 */
import { mkdtempSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, synthMigratorAsset, type MigratorAsset } from './support/asset.ts';
import { createEvent, lambdaContext } from './support/lambda.ts';
import { captureOutput, setupSimEnv, type SimEnv } from './support/sim-env.ts';
import { startCuttingProxy, startStalledEndpoint, startStallingProxy } from './support/stall.ts';

type Handler = (event: unknown, context: unknown) => Promise<{ PhysicalResourceId: string; Data: Record<string, string> }>;

const MARKER = 'stall-here-7f3a';
let work: string;
let sim: SimEnv;
let plain: { asset: MigratorAsset; onEvent: Handler };
let stalling: { asset: MigratorAsset; onEvent: Handler };
let output: ReturnType<typeof captureOutput>;
const savedEnv = { ...process.env };

async function load(asset: MigratorAsset) {
  const mod = (await import(/* @vite-ignore */ pathToFileURL(asset.handlerFile).href)) as { onEvent: Handler };
  return { asset, onEvent: mod.onEvent };
}

/** A Create with 20 s left: a 10 s budget, so each AWS attempt gets 1 s and three attempts. */
async function create(which: { asset: MigratorAsset; onEvent: Handler }, overrides: Record<string, string> = {}) {
  process.env = { ...savedEnv, ...sim.lambdaEnv(which.asset, overrides) };
  const emfBefore = emf().length;
  const error = await which.onEvent(createEvent(which.asset.properties), lambdaContext({ timeoutMs: 20_000 })).then(
    () => undefined,
    (e: Error) => e,
  );
  return { error, metrics: emf().slice(emfBefore) };
}

function emf() {
  return output.lines().filter((l) => l.includes('"_aws"')).map((l) => JSON.parse(l));
}
const q = (text: string, values?: unknown[]) => sim.client.query(text, values);
const runIdOf = (message: string) => /\[run ([0-9a-f-]{36});/.exec(message)?.[1];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'migrator-stall-'));
  const withStall = join(work, 'migrations');
  cpSync(join(PROJECT_ROOT, 'migrations'), withStall, { recursive: true, filter: (s) => !s.includes('/.compiled') });
  writeFileSync(join(withStall, '9003_stall.sql'), `-- Up Migration\nSELECT '${MARKER}';\n`);
  const seedsDir = join(PROJECT_ROOT, 'seeds');
  plain = await load(synthMigratorAsset({ migrationsDir: join(PROJECT_ROOT, 'migrations'), seedsDir }));
  stalling = await load(synthMigratorAsset({ migrationsDir: withStall, seedsDir }));
  sim = await setupSimEnv('staging');
  output = captureOutput();
}, 180_000);

afterAll(async () => {
  output?.restore();
  process.env = savedEnv;
  await sim?.close();
  plain?.asset.cleanup();
  stalling?.asset.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('stalled endpoints end as a readable reason, a Failures metric and a closed run row', () => {
  it('Secrets Manager that never answers: the request timeout fires on each of the three attempts', async () => {
    const stalled = await startStalledEndpoint();
    try {
      const r = await create(plain, { AWS_ENDPOINT_URL_SECRETS_MANAGER: stalled.url });
      expect(r.error?.name).toBe('MigrationFailed');
      expect(r.error?.message).toMatch(/^Could not read the database secret .*: Secrets Manager no answer within the 1000 ms request timeout \(3 attempt\(s\)\): TimeoutError/);
      expect(stalled.accepted).toBe(3);
      expect(r.metrics).toHaveLength(1);
      expect(r.metrics[0]).toMatchObject({ Failures: 1, Runs: 1 });
      // Nothing reached the database (so there is no run row to close).
      expect((await q(`SELECT to_regclass('public.migration_runs') IS NULL AS none`)).rows[0].none).toBe(true);
    } finally {
      await stalled.close();
    }
  }, 60_000);

  it('PostgreSQL that accepts and never answers: each connect attempt times out, the reason says where and how often', async () => {
    const stalled = await startStalledEndpoint();
    await sim.putSecret(JSON.stringify({ host: '127.0.0.1', port: stalled.port, username: sim.role, password: sim.password, dbname: sim.db.name }));
    try {
      const r = await create(plain);
      expect(r.error?.message).toMatch(new RegExp(`Could not connect to PostgreSQL at 127.0.0.1:${stalled.port}/${sim.db.name} after 3 attempt\\(s\\): .*timeout`, 'i'));
      expect(r.error?.message).not.toContain(sim.password);
      expect(stalled.accepted).toBe(3);
      expect(r.metrics[0]).toMatchObject({ Failures: 1 });
    } finally {
      await sim.rotatePassword(sim.password);
      await stalled.close();
    }
  }, 60_000);

  it('KMS that never answers during the seed: the request timeout fires, the seed writes nothing, the run row is failed', async () => {
    const stalled = await startStalledEndpoint();
    try {
      const r = await create(plain, { AWS_ENDPOINT_URL_KMS: stalled.url });
      expect(r.error?.message).toMatch(/KMS Encrypt .* failed for tenant .*TimeoutError: .*exceeded the configured 1000 ms requestTimeout/);
      expect(stalled.accepted).toBeGreaterThanOrEqual(3);
      expect(r.metrics[0]).toMatchObject({ Failures: 1 });
      const runId = runIdOf(r.error!.message)!;
      const { rows } = await q('SELECT outcome, error, finished_at FROM migration_runs WHERE id = $1', [runId]);
      expect(rows[0]).toMatchObject({ outcome: 'failed' });
      expect(rows[0].error).toMatch(/KMS Encrypt/);
      expect(rows[0].finished_at).not.toBeNull();
      // The seed is one transaction: nothing of it remains; no session of the run is left behind.
      expect((await q('SELECT count(*)::int AS n FROM tenants')).rows[0].n).toBe(0);
      // This run's sessions only (other test files share the server); a closed session leaves
      // pg_stat_activity asynchronously, so wait for it (bounded, order not time).
      const left = async () =>
        (await q(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE $1`, [`migrator:${runId}%`])).rows[0].n;
      let n = await left();
      for (let i = 0; i < 100 && n > 0; i++) {
        await new Promise((res) => setTimeout(res, 50));
        n = await left();
      }
      expect(n).toBe(0);
    } finally {
      await stalled.close();
    }
  }, 60_000);

  it('the connection cut mid-seed: the reason names the lost connection and the seed step, nothing of the seed is written, the run row is failed', async () => {
    const url = new URL(sim.db.url);
    const proxy = await startCuttingProxy(url.hostname, Number(url.port || 5432), 'INSERT INTO "users"');
    await sim.putSecret(JSON.stringify({ host: '127.0.0.1', port: proxy.port, username: sim.role, password: sim.password, dbname: sim.db.name }));
    try {
      const r = await create(plain);
      expect(proxy.cut).toBe(1);
      expect(r.error?.message).toMatch(new RegExp(`^The database connection to 127\\.0\\.0\\.1:${proxy.port}/${sim.db.name} was lost during the seed step: `));
      expect(r.error?.message).toContain('so nothing of the seed was written');
      expect(r.error?.message).not.toContain('not queryable');
      expect(r.metrics[0]).toMatchObject({ Failures: 1 });
      const runId = runIdOf(r.error!.message)!;
      const { rows } = await q('SELECT outcome, error FROM migration_runs WHERE id = $1', [runId]);
      expect(rows[0]).toMatchObject({ outcome: 'failed' });
      expect(rows[0].error).toContain('was lost during the seed step');
      expect((await q('SELECT count(*)::int AS n FROM tenants')).rows[0].n).toBe(0);
    } finally {
      await sim.rotatePassword(sim.password);
      await proxy.close();
    }
  }, 60_000);

  it('PostgreSQL that stops answering mid-run: the watchdog cuts the session at the hard stop; the run row is closed as failed', async () => {
    const url = new URL(sim.db.url);
    const proxy = await startStallingProxy(url.hostname, Number(url.port || 5432), MARKER);
    await sim.putSecret(JSON.stringify({ host: '127.0.0.1', port: proxy.port, username: sim.role, password: sim.password, dbname: sim.db.name }));
    try {
      const r = await create(stalling);
      expect(proxy.stalled).toBe(1);
      expect(r.error?.message).toMatch(/^Stopped at the invocation deadline \(\d+ s\): .*9003_stall/);
      expect(r.metrics[0]).toMatchObject({ Failures: 1 });
      const lines = output.lines();
      expect(lines.some((l) => l.includes('closing the database connection: the cancelled statement did not end'))).toBe(true);
      expect(lines.some((l) => l.includes('run row closed as failed on a fresh connection'))).toBe(true);
      const runId = runIdOf(r.error!.message)!;
      const { rows } = await q('SELECT outcome, error FROM migration_runs WHERE id = $1', [runId]);
      expect(rows[0]).toMatchObject({ outcome: 'failed' });
      expect(rows[0].error).toMatch(/Stopped at the invocation deadline/);
      // The cut session ends on the server too (its transaction rolls back, its advisory lock goes with it).
      let left = 1;
      for (let i = 0; i < 100 && left > 0; i++) {
        left = (await q('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [`migrator:${runId}`])).rows[0].n;
        if (left > 0) await new Promise((res) => setTimeout(res, 100));
      }
      expect(left).toBe(0);
      expect((await q(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)).rows[0].n).toBe(0);
      expect((await q(`SELECT count(*)::int AS n FROM pgmigrations WHERE name = '9003_stall'`)).rows[0].n).toBe(0);
    } finally {
      await sim.rotatePassword(sim.password);
      await proxy.close();
    }
  }, 60_000);
});
