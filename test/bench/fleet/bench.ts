/**
 * Section F (issue 13): fleet throughput. BENCH_FLEET_TARGETS (default 100) databases, each with its own
 * secret in the KMS / Secrets Manager stand-in; the REAL bundled fleet functions run by the test driver with
 * the Distributed Map's semantics (test/fleet/support/driver.ts), canary wave of 1, at concurrency 1, 5, 10
 * and 20: once with one new migration pending on every target, once with nothing pending (no-op).
 * Then, from the measured per-target cost and documented quotas, projected wall times for 1,000 and 10,000.
 *
 * All workers run in this one process on this machine's cores; on Lambda each runs in its own environment,
 * so local throughput at high concurrency is a floor, not the AWS figure.
 */
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchServer } from '../lib/server.ts';
import { type Report } from '../lib/report.ts';
import { MemoryLedger } from '../../../functions/core/fleet/memory-ledger.ts';
import { runFleetExecution, type FleetBundle } from '../../fleet/support/driver.ts';
import { setEnv, startLocalFleet, type LocalTarget } from '../../fleet/support/fleet-env.ts';
import { synthFleet } from '../../fleet/support/stack.ts';

const SECTION = 'F. Fleet (issue 13)';
const MIGRATIONS = fileURLToPath(new URL('./migrations', import.meta.url));
const PREFIX = 'migrator/bench/fleet/';
export const FLEET_LEVELS = [1, 5, 10, 20] as const;

export interface FleetBenchOptions {
  readonly targets: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : 0;
};

export async function benchFleet(server: BenchServer, report: Report, o: FleetBenchOptions): Promise<void> {
  const synth = synthFleet({ migrationsDir: MIGRATIONS });
  const fleet = await startLocalFleet(server.url);
  const restore = setEnv(fleet.env({ TARGET_SECRET_PREFIX: PREFIX, CANARY_COUNT: '1' }));
  try {
    const bundle = (await import(join(synth.assetDir, 'index.mjs'))) as FleetBundle;
    const t0 = performance.now();
    const targets = await fleet.addTargets(PREFIX, o.targets);
    report.add({ section: SECTION, name: `fleet: create ${o.targets} databases and secrets (setup)`, value: `${((performance.now() - t0) / 1000).toFixed(1)} s`, raw: (performance.now() - t0) / 1000, verdict: 'info' });
    const ledger = new MemoryLedger();
    // Unmeasured warm-up: both migrations everywhere, the bundle and SDK clients loaded.
    const warm = await runFleetExecution({ bundle, ledger, maxConcurrency: 20, toleratedFailureCount: 0 });
    if (!warm.summary.ok || warm.summary.succeeded !== o.targets) throw new Error(`fleet bench warm-up failed: ${warm.summary.reason}`);

    const perTarget: Record<string, number[]> = { new: [], noop: [] };
    for (const c of FLEET_LEVELS) {
      await resetNewMigration(fleet, targets);
      for (const kind of ['new', 'noop'] as const) {
        const t = performance.now();
        const r = await runFleetExecution({ bundle, ledger, maxConcurrency: c, toleratedFailureCount: 0 });
        const s = (performance.now() - t) / 1000;
        if (!r.summary.ok || r.summary.succeeded !== o.targets) throw new Error(`fleet bench c=${c} ${kind} failed: ${r.summary.reason}`);
        const entries = await ledger.list(r.executionId);
        const applied = entries.reduce((n, e) => n + e.migrationsApplied.length, 0);
        if (applied !== (kind === 'new' ? o.targets : 0)) throw new Error(`fleet bench c=${c} ${kind}: ${applied} migrations applied`);
        const durations = entries.map((e) => e.durationMs);
        if (c === 1) perTarget[kind] = durations;
        const perMin = (o.targets / s) * 60;
        report.add({
          section: SECTION,
          name: `fleet c=${String(c).padStart(2)}, ${kind === 'new' ? 'one new migration' : 'no-op'}: throughput`,
          value: `${perMin.toFixed(0)} targets/min`,
          raw: perMin,
          verdict: 'info',
          detail: `${o.targets} targets in ${s.toFixed(1)} s; worker median ${median(durations).toFixed(0)} ms, max ${Math.max(...durations)} ms`,
        });
      }
    }
    project(report, median(perTarget.new!), median(perTarget.noop!));
  } finally {
    restore();
    await fleet.close();
    synth.cleanup();
  }
}

/** Undo 0002 on every target, so the next level finds exactly one new migration. */
async function resetNewMigration(fleet: Awaited<ReturnType<typeof startLocalFleet>>, targets: LocalTarget[]) {
  for (const t of targets) {
    await fleet.query(
      t,
      `DROP TABLE public.bench_notes; DELETE FROM public.pgmigrations WHERE name = '0001_bench_notes'; DELETE FROM public.pgmigrations_checksums WHERE name = '0001_bench_notes'`,
    );
  }
}

/**
 * Wall time on AWS ≈ waves × (per-target cost + per-item overhead) + fixed cost, waves = ceil(N / concurrency).
 * Per-target cost: the worker's own median duration measured above at concurrency 1 (connect, validate,
 * migrate, record). Per-item overhead (child execution start, Lambda invoke, a cold start for the first
 * `concurrency` items) is an assumption stated in the detail, not measured here (no Step Functions).
 */
function project(report: Report, newMs: number, noopMs: number) {
  const OVERHEAD_MS = 250; // Distributed Map child start + Lambda invoke, typical; documented quotas below
  const COLD_MS = 1_500; // first invocation per execution environment: VPC-attached Node 24 cold start + bundle import
  const FIXED_MS = 4_000; // list step + canary wave start + summary step
  for (const n of [1_000, 10_000]) {
    for (const c of [10, 50, 200]) {
      for (const [kind, ms] of [['one new migration', newMs], ['no-op', noopMs]] as const) {
        const waves = Math.ceil(n / c);
        const wallMs = FIXED_MS + COLD_MS + waves * (ms + OVERHEAD_MS);
        report.add({
          section: SECTION,
          name: `projected: ${n.toLocaleString('en')} targets at c=${c}, ${kind}`,
          value: `${(wallMs / 60_000).toFixed(1)} min`,
          raw: wallMs / 1000,
          verdict: 'info',
          detail: `${waves} waves × (${ms.toFixed(0)} ms measured + ${OVERHEAD_MS} ms assumed per item) + ${((FIXED_MS + COLD_MS) / 1000).toFixed(1)} s; needs ${c} Lambda concurrency and ${c} DB connections spread over the servers`,
        });
      }
    }
  }
}
