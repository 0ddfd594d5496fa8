/**
 * `npm run bench`: one run, one table (and .bench/results.json).
 *   A. migrations (issue 2), B. seeding (issue 3), C. CDK asset and handler (issue 4).
 * A benchmark, not a test: targets print PASS or MISS, and a piece that has not landed yet prints
 * "not available yet (reason)" instead of failing the run.
 *
 * Environment (all optional):
 *   BENCH_DATABASE_URL    server to use (its user needs CREATEDB); default: embedded PostgreSQL, fsync on
 *   BENCH_FAST            1: embedded PostgreSQL with fsync and synchronous_commit off (default: on)
 *   BENCH_ONLY            comma list of sections: migrations,seed,cdk,fleet (default all)
 *   BENCH_FLEET_TARGETS   databases in the fleet section (default 100)
 *   BENCH_RUNS            repetitions per timed measurement (default 5; cold imports at least 7)
 *   BENCH_MIGRATIONS      generated migrations (default 300)
 *   BENCH_TENANTS         generated tenants (default 10000)
 *   BENCH_SHARED_SECRETS  tenants share this many LLM-key secrets (default: one secret per tenant)
 *   BENCH_PSQL            psql client (default /usr/bin/psql, else psql on PATH)
 *   BENCH_BASELINE_MIGRATOR  another build's bin/migrator.mjs, run in the migrations rounds too (before/after)
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Report } from './lib/report.ts';
import { loadText, machineInfo } from './lib/machine.ts';
import { startBenchServer } from './lib/server.ts';
import { ROOT } from './lib/optional.ts';
import { run } from './lib/timing.ts';
import { benchMigrations } from './migrations/bench.ts';
import { benchSeed } from './seed/bench.ts';
import { benchCdk } from './cdk/bench.ts';
import { benchFleet } from './fleet/bench.ts';

function intEnv(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`${name} must be a positive integer, got "${v}"`);
    process.exit(2);
  }
  return n;
}

async function psqlVersion(psql: string): Promise<string> {
  try {
    return (await run(psql, ['--version'])).stdout.trim();
  } catch {
    return 'not found';
  }
}

async function main(): Promise<void> {
  // The SDK's notice that future versions need Node 22 would repeat in every child's output; it is known.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const sections = new Set((process.env.BENCH_ONLY ?? 'migrations,seed,cdk,fleet').split(',').map((s) => s.trim()).filter(Boolean));
  for (const s of sections) {
    if (!['migrations', 'seed', 'cdk', 'fleet'].includes(s)) {
      console.error(`BENCH_ONLY: unknown section "${s}" (migrations, seed, cdk, fleet)`);
      process.exit(2);
    }
  }
  const runs = intEnv('BENCH_RUNS', 5);
  const migrations = intEnv('BENCH_MIGRATIONS', 300);
  const tenants = intEnv('BENCH_TENANTS', 10_000);
  const sharedSecrets = process.env.BENCH_SHARED_SECRETS ? intEnv('BENCH_SHARED_SECRETS', 1) : undefined;
  const psql = process.env.BENCH_PSQL ?? (existsSync('/usr/bin/psql') ? '/usr/bin/psql' : 'psql');

  const t0 = performance.now();
  const machine = machineInfo();
  const server = await startBenchServer();
  const psqlVer = await psqlVersion(psql);
  const loadStart = loadText();
  const header = [
    `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os}`,
    `node ${machine.node}; ${psqlVer}; commit ${machine.commit}`,
    `database: ${server.description}`,
    `load average at start (1/5/15 min): ${loadStart}`,
    `settings: runs=${runs}, migrations=${migrations}, tenants=${tenants}${sharedSecrets ? ` (${sharedSecrets} shared LLM-key secrets)` : ''}, sections=${[...sections].join(',')}`,
  ];
  console.log(header.join('\n'));

  const report = new Report();
  const stopping = async () => {
    await server.stop().catch(() => {});
    process.exit(130);
  };
  process.once('SIGINT', stopping);
  try {
    if (sections.has('migrations')) {
      console.log('\nA. migrations ...');
      await benchMigrations(server, report, { count: migrations, runs, psql, baseline: process.env.BENCH_BASELINE_MIGRATOR || undefined });
    }
    if (sections.has('seed')) {
      console.log('\nB. seeding ...');
      await benchSeed(server, report, { tenants, psql, runs, sharedSecrets });
    }
    if (sections.has('cdk')) {
      console.log('\nC. CDK ...');
      await benchCdk(server, report, { runs: Math.max(runs, 7) });
    }
    if (sections.has('fleet')) {
      console.log('\nF. fleet ...');
      await benchFleet(server, report, { targets: intEnv('BENCH_FLEET_TARGETS', 100) });
    }
  } finally {
    await server.stop();
  }
  const totalS = (performance.now() - t0) / 1000;
  const loadEnd = loadText();
  console.log(`\n${header.join('\n')}\nload average at end: ${loadEnd}\n\n${report.table()}\n\ntotal bench time ${totalS.toFixed(0)} s`);
  const out = resolve(ROOT, '.bench/results.json');
  report.writeJson(out, {
    finishedAt: new Date().toISOString(),
    machine,
    psql: psqlVer,
    database: { description: server.description, settings: server.settings },
    settings: { runs, migrations, tenants, sharedSecrets: sharedSecrets ?? null, sections: [...sections] },
    totalSeconds: Math.round(totalS),
    loadAverage: { start: loadStart, end: loadEnd },
  });
  console.log(`results written to ${out}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
