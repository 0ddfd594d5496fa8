/**
 * Section B (issue 3): seeding N generated tenants (3 users, 2 agents, 1 LLM key each) through the
 * KMS/Secrets Manager stand-in, compared with a COPY of the very rows it wrote (the floor), and the
 * no-change re-run: its time, its writes (pg_stat_user_tables) and its KMS Encrypt calls (stand-in).
 *
 * The seed runs in a child process (seed-child.ts) with the stand-in here, so the two do not share an
 * event loop, as with the real services. Its figure is the child's wall time, process start included.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BenchServer, BenchDatabase } from '../lib/server.ts';
import { fmtInt, fmtRatio, fmtSeconds, verdict, type Report } from '../lib/report.ts';
import { median, run, samplesText } from '../lib/timing.ts';
import { ROOT, Unavailable, findFile, reasonOf } from '../lib/optional.ts';
import { migrateProject } from '../lib/project.ts';
import { createKey, createSecrets, standInEnv, startStandIn, type StandIn } from '../lib/standin.ts';
import { BENCH_KMS_ALIAS, BENCH_STAGE, generateSeeds } from './generate.ts';
import { countsText, diffCounts, rowCounts, settledWrites, sumCounts, type TableCounts } from './stats.ts';
import { exportRows, loadRows } from './copy-floor.ts';

export interface SeedBenchOptions {
  readonly tenants: number;
  readonly psql: string;
  /** COPY floor repetitions (each on a fresh database). */
  readonly runs: number;
  /** Tenants share this many provider-key secrets; default: one secret per tenant (seed 000's shape). */
  readonly sharedSecrets?: number;
}

const SECTION = 'B. Seeding (issue 3)';
/** Tables a seed run writes but that are not seed data: bookkeeping of runs and migrations. */
const BOOKKEEPING = /^(pgmigrations|migration_runs|migrator_seed_lock|.*migrations?_(checksums|history|state|lock))$/;

interface ChildResult {
  wallMs: number;
  loadMs: number;
  applyMs: number;
  rowsWritten: number | null;
  encryptedKeys: number | null;
}

async function seedOnce(url: string, seedsDir: string, env: NodeJS.ProcessEnv): Promise<ChildResult> {
  const child = resolve(ROOT, 'test/bench/seed/seed-child.ts');
  const r = await run(process.execPath, ['--import', 'tsx', child, url, seedsDir, BENCH_STAGE], { cwd: ROOT, env, timeoutMs: 600_000 });
  const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (r.code !== 0 || !line) {
    const tail = (r.stderr || r.stdout).trim().split('\n').filter((l) => l && !/NodeVersionSupportWarning|node >=22|a\.co\//.test(l)).slice(-3).join(' | ');
    throw new Error(`seed run exited ${r.code}: ${tail.slice(0, 300)}`);
  }
  const out = JSON.parse(line) as { loadMs: number; applyMs: number; summary: { rowsWritten?: number; keys?: { encrypted?: number } } };
  return {
    wallMs: r.ms,
    loadMs: out.loadMs,
    applyMs: out.applyMs,
    rowsWritten: out.summary.rowsWritten ?? null,
    encryptedKeys: out.summary.keys?.encrypted ?? null,
  };
}

/** A snapshot of the stand-in's counters: every target, so no call the seeder makes goes unseen. */
function awsCalls(s: StandIn): Record<string, number> {
  return { ...s.calls };
}

function callsText(before: Record<string, number>, after: Record<string, number>): string {
  const parts = Object.keys(after)
    .sort()
    .map((t) => [t.replace(/^TrentService\./, 'KMS ').replace(/^secretsmanager\./, 'SM '), (after[t] ?? 0) - (before[t] ?? 0)] as const)
    .filter(([, n]) => n > 0);
  return parts.length ? parts.map(([t, n]) => `${t} ${fmtInt(n)}`).join(', ') : 'no AWS calls';
}

function seedTables(c: TableCounts): TableCounts {
  return Object.fromEntries(Object.entries(c).filter(([t]) => !BOOKKEEPING.test(t)));
}

async function cliRerun(report: Report, url: string, seedsDir: string, env: NodeJS.ProcessEnv, standIn: StandIn): Promise<void> {
  const name = 'no-change re-run via `migrator seed` CLI';
  const args = [resolve(ROOT, 'bin/migrator.mjs'), 'seed', '--database-url', url, '--stage', BENCH_STAGE, '--seeds-dir', seedsDir, '--json'];
  const writes0 = await settledWrites(url);
  const calls0 = awsCalls(standIn);
  const r = await run(process.execPath, args, { cwd: ROOT, env, timeoutMs: 300_000 });
  const calls1 = awsCalls(standIn);
  if (r.code !== 0) {
    const tail = (r.stderr || r.stdout).trim().split('\n').filter(Boolean).slice(-2).join(' | ');
    report.unavailable(SECTION, name, `migrator seed exited ${r.code}: ${tail.slice(0, 200)}`, '<= 5 s');
    return;
  }
  const delta = diffCounts(writes0, await settledWrites(url));
  const seedWrites = sumCounts(seedTables(delta));
  const bookkeeping = Object.fromEntries(Object.entries(delta).filter(([t]) => BOOKKEEPING.test(t)));
  const encrypts = (calls1['TrentService.Encrypt'] ?? 0) - (calls0['TrentService.Encrypt'] ?? 0);
  report.add({
    section: SECTION,
    name,
    value: fmtSeconds(r.ms),
    raw: r.ms / 1000,
    target: '<= 5 s',
    verdict: verdict(r.ms <= 5000 && seedWrites === 0 && encrypts === 0),
    detail: `${seedWrites} seed-table writes, ${encrypts} Encrypt; ${callsText(calls0, calls1)}; bookkeeping: ${countsText(bookkeeping)}`,
  });
}

export async function benchSeed(server: BenchServer, report: Report, o: SeedBenchOptions): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'migrator-bench-seed-'));
  let standIn: StandIn | undefined;
  const dbs: BenchDatabase[] = [];
  const secrets = o.sharedSecrets ? `${o.sharedSecrets} shared key secrets` : 'a key secret per tenant';
  const full = `seed ${fmtInt(o.tenants)} tenants (fresh DB, stand-in, ${secrets})`;
  try {
    findFile(['functions/core/seed/index.ts'], 'seeding');
    standIn = await startStandIn();
    // A temp dir of this run's own (tsx keeps its compile cache there; the warm-up below fills it).
    const ownTmp = join(work, 'tmp');
    mkdirSync(ownTmp, { recursive: true });
    const env = { ...process.env, ...standInEnv(standIn), TMPDIR: ownTmp };
    await createKey(standIn, BENCH_KMS_ALIAS);
    const gen = generateSeeds(work, o.tenants, o.sharedSecrets);
    // By default one provider-key secret per tenant, as seed 000 has; clearly fake values.
    await createSecrets(standIn, gen.llmSecrets, (name) => JSON.stringify({ apiKey: `bench-not-a-real-key-${name.split('/').pop()}` }));
    console.log(`  generated ${fmtInt(o.tenants)} tenant files and ${fmtInt(gen.llmSecrets.length)} provider-key secrets`);

    // Warm-up on a scratch database with one other tenant: tsx compiles the seeding code and the CLI
    // into its cache (under the same TMPDIR), so the measured runs pay for no compilation.
    const warm = generateSeeds(join(work, 'warm'), 1, undefined, 'warm');
    await createSecrets(standIn, warm.llmSecrets, () => JSON.stringify({ apiKey: 'bench-not-a-real-key-warm-up' }));
    const scratch = await server.createDatabase('seedwarm');
    dbs.push(scratch);
    await migrateProject(scratch.url, env);
    await seedOnce(scratch.url, warm.dir, env);
    await run(process.execPath, [resolve(ROOT, 'bin/migrator.mjs'), 'seed', '--database-url', scratch.url, '--stage', BENCH_STAGE, '--seeds-dir', warm.dir], { cwd: ROOT, env });
    await scratch.drop();
    dbs.pop();

    const db = await server.createDatabase('seed');
    dbs.push(db);
    const migrated = await migrateProject(db.url, env);
    const rowsBefore = await rowCounts(db.url);
    const writesBeforeSeed = await settledWrites(db.url);

    // Full seed.
    const calls0 = awsCalls(standIn);
    const first = await seedOnce(db.url, gen.dir, env);
    const calls1 = awsCalls(standIn);
    const rowsAfter = await rowCounts(db.url);
    const written = seedTables(diffCounts(rowsBefore, rowsAfter));
    // The same instrument that must read 0 on the re-run, shown to see the first run's writes.
    const writes0 = await settledWrites(db.url);
    const firstWrites = sumCounts(seedTables(diffCounts(writesBeforeSeed, writes0)));
    const rows = sumCounts(written);
    const rate = rows / (first.wallMs / 1000);
    report.add({
      section: SECTION,
      name: full,
      value: fmtSeconds(first.wallMs),
      raw: first.wallMs / 1000,
      target: '<= 60 s',
      verdict: verdict(first.wallMs <= 60_000),
      detail: `load+validate ${fmtSeconds(first.loadMs)}, apply ${fmtSeconds(first.applyMs)}, rest process start; ${callsText(calls0, calls1)}; schema by ${migrated.by}`,
    });
    report.add({
      section: SECTION,
      name: 'seed throughput',
      value: `${fmtInt(rate)} rows/s`,
      raw: rate,
      verdict: 'info',
      detail: `${fmtInt(rows)} rows: ${countsText(written)}; pg_stat_user_tables counted ${fmtInt(firstWrites)} row writes`,
    });

    // The floor: COPY of the same rows into a freshly migrated database.
    const exportDir = join(work, 'copy');
    mkdirSync(exportDir, { recursive: true });
    const exp = await exportRows(o.psql, db.url, exportDir, written);
    const copyMs: number[] = [];
    for (let i = 0; i < o.runs; i++) {
      const target = await server.createDatabase('copy');
      dbs.push(target);
      await migrateProject(target.url, env);
      copyMs.push((await loadRows(o.psql, target.url, exp, exportDir)).ms);
      const loaded = seedTables(await rowCounts(target.url));
      if (sumCounts(loaded) !== rows) throw new Error(`COPY loaded ${sumCounts(loaded)} rows, expected ${rows}`);
      await target.drop();
      dbs.pop();
    }
    const copy = median(copyMs);
    report.add({
      section: SECTION,
      name: 'COPY of the same rows (floor: psql \\copy, one transaction)',
      value: fmtSeconds(copy),
      raw: copy / 1000,
      verdict: 'info',
      detail: `median of ${copyMs.length}: ${samplesText(copyMs)}; ${fmtInt(exp.rows / (copy / 1000))} rows/s; ${exp.tables.length} tables, constraints and indexes in place`,
    });
    report.add({
      section: SECTION,
      name: 'seed / COPY',
      value: fmtRatio(first.wallMs / copy),
      raw: first.wallMs / copy,
      verdict: 'info',
      detail: `apply phase alone: ${fmtRatio(first.applyMs / copy)}`,
    });

    // The no-change re-run: same files, same secret versions.
    const calls2 = awsCalls(standIn);
    const again = await seedOnce(db.url, gen.dir, env);
    const calls3 = awsCalls(standIn);
    const writes1 = await settledWrites(db.url);
    const delta = diffCounts(writes0, writes1);
    const seedWrites = seedTables(delta);
    const bookkeeping = Object.fromEntries(Object.entries(delta).filter(([t]) => BOOKKEEPING.test(t)));
    const encrypts = (calls3['TrentService.Encrypt'] ?? 0) - (calls2['TrentService.Encrypt'] ?? 0);
    report.add({
      section: SECTION,
      name: 'no-change re-run',
      value: fmtSeconds(again.wallMs),
      raw: again.wallMs / 1000,
      target: '<= 5 s',
      verdict: verdict(again.wallMs <= 5000),
      detail: `load+validate ${fmtSeconds(again.loadMs)}, apply ${fmtSeconds(again.applyMs)}; ${callsText(calls2, calls3)}`,
    });
    const total = sumCounts(seedWrites);
    report.add({
      section: SECTION,
      name: 'no-change re-run writes (rows ins+upd+del, KMS Encrypt calls)',
      value: `${total} rows, ${encrypts} Encrypt`,
      raw: total + encrypts,
      target: '0 and 0',
      verdict: verdict(total === 0 && encrypts === 0),
      detail: `pg_stat_user_tables delta: ${countsText(seedWrites)}${Object.keys(bookkeeping).length ? `; bookkeeping (not counted): ${countsText(bookkeeping)}` : ''}; seed report rowsWritten ${again.rowsWritten ?? '?'}`,
    });

    // The same no-change re-run as a user types it: the CLI, which also records its migration_runs row.
    await cliRerun(report, db.url, gen.dir, env, standIn);
  } catch (e) {
    if (!(e instanceof Unavailable)) console.error(e);
    const reason = reasonOf(e);
    if (!report.rows.some((r) => r.name === full)) report.unavailable(SECTION, full, reason, '<= 60 s');
    report.unavailable(SECTION, 'no-change re-run', reason, '<= 5 s');
  } finally {
    for (const db of dbs) await db.drop().catch(() => {});
    await standIn?.stop().catch(() => {});
    rmSync(work, { recursive: true, force: true });
  }
}
