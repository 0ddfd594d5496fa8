/**
 * The fleet end to end on PostgreSQL, without Step Functions: 105 databases, the REAL bundled fleet
 * functions (synthesized by DatabaseFleetMigrations), driven by the test driver that applies the
 * Distributed Map's semantics (support/driver.ts). Three targets fail in three ways (unreachable, a
 * migration that fails on that target's data, the migration lock held); the rest are migrated exactly once;
 * the ledger names the failures; `retry --failed` re-runs only them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryLedger } from '../../functions/core/fleet/memory-ledger.ts';
import { fleetStatus, retryFailed } from '../../functions/core/fleet/commands.ts';
import { tablesOf } from '../../functions/core/migrate/state.ts';
import { serverUrl } from '../support/db.ts';
import { captureOutput } from '../handlers/support/sim-env.ts';
import { runFleetExecution, type DriverOptions, type FleetBundle } from './support/driver.ts';
import { setEnv, startLocalFleet, type LocalFleet, type LocalTarget } from './support/fleet-env.ts';
import { synthFleet, type SynthesizedFleet } from './support/stack.ts';

const MIGRATIONS = fileURLToPath(new URL('./fixtures/migrations', import.meta.url));
const PREFIX = 'migrator/staging/fleet/';
const COUNT = 105;
const BAD_DATA = 'tenant-017';
const LOCKED = 'tenant-042';
const UNREACHABLE = 'tenant-088';

let synth: SynthesizedFleet;
let bundle: FleetBundle;
let fleet: LocalFleet;
let targets: LocalTarget[];
let restoreEnv: () => void;
const ledger = new MemoryLedger();
const byName = (n: string) => targets.find((t) => t.name === n)!;

beforeAll(async () => {
  synth = synthFleet({ migrationsDir: MIGRATIONS });
  bundle = (await import(join(synth.assetDir, 'index.mjs'))) as FleetBundle;
  fleet = await startLocalFleet(serverUrl());
  targets = await fleet.addTargets(PREFIX, COUNT, async (c, i) => {
    await c.query('CREATE TABLE public.legacy_codes (code text NOT NULL)');
    // Every tenant's codes are unique, except BAD_DATA's: its unique constraint cannot be created.
    await c.query(`INSERT INTO public.legacy_codes VALUES ('a${i}'), ('b${i}')${i === 17 ? `, ('a${i}')` : ''}`);
  });
  await fleet.putSecret(byName(UNREACHABLE), { port: 1 });
  restoreEnv = setEnv(fleet.env({ TARGET_SECRET_PREFIX: PREFIX, CONNECT_TIMEOUT_MS: '3000', LOCK_WAIT_TIMEOUT_MS: '1500' }));
}, 300_000);

afterAll(async () => {
  restoreEnv?.();
  await fleet?.close();
  synth?.cleanup();
}, 300_000);

const options = (o: Partial<DriverOptions> = {}): DriverOptions => ({ bundle, ledger, maxConcurrency: 10, toleratedFailureCount: 5, ...o });
const applied = async (t: LocalTarget) =>
  (await fleet.query(t, `SELECT to_regclass('public.pgmigrations') IS NOT NULL AS present`))[0].present
    ? (await fleet.query(t, 'SELECT name FROM public.pgmigrations ORDER BY id')).map((r) => r.name as string)
    : [];
const runs = async (t: LocalTarget) =>
  (await fleet.query(t, `SELECT to_regclass('public.migration_runs') IS NOT NULL AS present`))[0].present
    ? await fleet.query(t, 'SELECT id, actor, outcome, migrations_applied FROM public.migration_runs ORDER BY started_at')
    : [];

describe('fleet over 105 local databases', () => {
  let mainExecution = '';

  it('a failing canary stops the execution before any other target is touched', async () => {
    const restore = setEnv({ CANARY_NAMES: BAD_DATA });
    try {
      const r = await runFleetExecution(options());
      expect(r.summary.ok).toBe(false);
      expect(r.summary.error).toBe('FleetCanaryFailed');
      expect(r.summary).toMatchObject({ total: COUNT, failed: 1, succeeded: 0, skipped: COUNT - 1 });
      expect(r.summary.reason).toContain(`${BAD_DATA}:`);
      expect(r.summary.reason).toContain(r.executionId);
      expect(r.summary.reason).toContain('canary wave failed');
      expect(new Set(r.events.map((e) => e.wave))).toEqual(new Set(['canary']));
      for (const t of targets.filter((t) => t.name !== BAD_DATA)) expect(await applied(t)).toEqual([]);
    } finally {
      restore();
    }
  }, 300_000);

  it('migrates every healthy target exactly once, canary first, at most maxConcurrency at a time; failures are in the ledger with reasons', async () => {
    // Another run holds LOCKED's migration lock for the whole execution.
    const holder = new pg.Client({ connectionString: byName(LOCKED).url });
    await holder.connect();
    await holder.query('SELECT pg_advisory_lock($1::bigint)', [tablesOf({ dir: MIGRATIONS }).lockKey]);
    const out = captureOutput();
    let r;
    try {
      r = await runFleetExecution(options());
    } finally {
      out.restore();
      await holder.end();
    }
    mainExecution = r.executionId;
    expect(r.summary).toMatchObject({ ok: true, total: COUNT, succeeded: COUNT - 3, failed: 3, skipped: 0 });

    // Canary: the first target in name order, finished before any other target started.
    const canary = r.events.filter((e) => e.wave === 'canary');
    expect(canary.map((e) => e.target)).toEqual(['tenant-000', 'tenant-000']);
    const firstRest = r.events.findIndex((e) => e.wave === 'rest');
    expect(r.events.slice(0, firstRest).every((e) => e.wave === 'canary')).toBe(true);
    expect(r.peak.rest).toBe(10);

    const entries = await ledger.list(mainExecution);
    expect(entries).toHaveLength(COUNT);
    const failed = entries.filter((e) => e.outcome === 'failed');
    expect(failed.map((e) => e.target)).toEqual([BAD_DATA, LOCKED, UNREACHABLE]);
    const reason = (n: string) => failed.find((e) => e.target === n)!;
    expect(reason(BAD_DATA).error).toMatch(/0001_tenant_notes/);
    expect(reason(BAD_DATA).error).toMatch(/could not create unique index|legacy_codes/);
    expect(reason(LOCKED).errorName).toBe('LockWaitTimeoutError');
    expect(reason(UNREACHABLE).error).toMatch(/Could not connect to PostgreSQL at 127\.0\.0\.1:1\//);

    const status = await fleetStatus(ledger, mainExecution);
    expect(status).toMatchObject({ succeeded: COUNT - 3, failed: 3 });

    // Each healthy database: both migrations once, one run row, and that row is this target's own run.
    for (const t of targets) {
      const entry = entries.find((e) => e.target === t.name)!;
      if (entry.outcome === 'failed') continue;
      expect(await applied(t)).toEqual(['0001_tenant_notes']);
      const rows = await runs(t);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ id: entry.runId, actor: `fleet:${mainExecution}`, outcome: 'succeeded' });
      expect(entry.secretId).toBe(t.secretArn);
    }
    // The bad-data target kept its failed run (its run row, written by the engine).
    const bad = await runs(byName(BAD_DATA));
    expect(bad.map((x) => x.outcome)).toEqual(['failed', 'failed']);
    expect(bad[1].id).toBe(reason(BAD_DATA).runId);
    expect(await applied(byName(LOCKED))).toEqual([]);

    // Every worker log line carries the execution ARN; no line carries the database password.
    const lines = out.lines().filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    const workerLines = lines.filter((l) => 'wave' in l);
    expect(workerLines.length).toBeGreaterThanOrEqual(COUNT * 2);
    expect(workerLines.every((l) => l.executionArn === mainExecution)).toBe(true);
    expect(out.text()).not.toContain(fleet.password);
  }, 600_000);

  it('retry --failed re-runs only the failed targets, and nothing else changes', async () => {
    await fleet.query(byName(BAD_DATA), `DELETE FROM public.legacy_codes WHERE ctid = (SELECT max(ctid) FROM public.legacy_codes WHERE code = 'a17')`);
    await fleet.putSecret(byName(UNREACHABLE));
    const before = new Map<string, number>();
    for (const t of targets) before.set(t.name, (await runs(t)).length);

    let retried: Awaited<ReturnType<typeof runFleetExecution>> | undefined;
    const result = await retryFailed(ledger, mainExecution, async (input) => {
      retried = await runFleetExecution(options(), input);
      return retried.executionId;
    });
    expect(result.targets).toEqual([BAD_DATA, LOCKED, UNREACHABLE]);
    expect(retried!.summary).toMatchObject({ ok: true, total: 3, succeeded: 3, failed: 0 });
    expect(new Set(retried!.events.map((e) => e.target))).toEqual(new Set(result.targets));
    const entries = await ledger.list(result.executionId!);
    expect(entries.map((e) => [e.target, e.outcome])).toEqual(result.targets.map((t) => [t, 'succeeded']));
    for (const t of targets) {
      const now = (await runs(t)).length;
      if (result.targets.includes(t.name)) {
        expect(await applied(t)).toEqual(['0001_tenant_notes']);
        expect(now).toBe(before.get(t.name)! + 1);
      } else {
        expect(now).toBe(before.get(t.name));
      }
    }
    // Nothing failed in the retry: a second retry starts nothing.
    expect(await retryFailed(ledger, result.executionId!, async () => expect.unreachable('nothing to retry'))).toMatchObject({ executionId: null, targets: [] });
  }, 300_000);

  it('more failures than tolerated fail the Map: nothing more starts, the rest is counted as not run', async () => {
    const prefix = 'migrator/staging/fleet-tolerance/';
    await fleet.addTargets(prefix, 6, async (c, i) => {
      await c.query('CREATE TABLE public.legacy_codes (code text NOT NULL)');
      await c.query(`INSERT INTO public.legacy_codes VALUES ('x')${i === 1 || i === 2 ? `, ('x')` : ''}`);
    });
    const restore = setEnv({ TARGET_SECRET_PREFIX: prefix, CANARY_COUNT: '0' });
    try {
      const r = await runFleetExecution(options({ maxConcurrency: 1, toleratedFailureCount: 1 }));
      expect(r.summary).toMatchObject({ ok: false, error: 'FleetToleranceExceeded', total: 6, succeeded: 1, failed: 2, skipped: 3 });
      expect(r.summary.reason).toMatch(/^2 of 6 fleet target\(s\) failed \(more targets failed than the fleet tolerates; 3 not run\): tenant-001: .*; tenant-002: /);
      expect(r.events.filter((e) => e.kind === 'start').map((e) => e.target)).toEqual(['tenant-000', 'tenant-001', 'tenant-002']);
    } finally {
      restore();
    }
  }, 300_000);
});
