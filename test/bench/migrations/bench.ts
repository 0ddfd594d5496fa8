/**
 * Section A (issue 2): N generated migrations applied to a fresh database by
 *   1. `migrator up` (our CLI, spawned as a user runs it),
 *   2. node-pg-migrate's own CLI, one transaction per migration (`--no-single-transaction`) like ours,
 *   3. `psql -1 -f` of the same up SQL concatenated (the floor: no bookkeeping, one transaction),
 * and a no-op `up` with all N applied, for the two migrators. Runs are interleaved and reported as medians.
 * With `BENCH_BASELINE_MIGRATOR` (another build's bin/migrator.mjs, e.g. an unpacked older commit with
 * its dist/ built), that build runs in the same rounds too: a before/after comparison side by side.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BenchServer } from '../lib/server.ts';
import { withClient } from '../lib/server.ts';
import { fmtRatio, fmtSeconds, verdict, type Report } from '../lib/report.ts';
import { median, run, samplesText, type SpawnResult } from '../lib/timing.ts';
import { ROOT, Unavailable, reasonOf } from '../lib/optional.ts';
import { generateMigrations } from './generate.ts';

export interface MigrationsBenchOptions {
  readonly count: number;
  readonly runs: number;
  readonly psql: string;
  /** Another build's bin/migrator.mjs, run in the same rounds (a before/after comparison). */
  readonly baseline?: string;
}

const SECTION = 'A. Migrations (issue 2)';

type Tool = 'migrator' | 'baseline' | 'node-pg-migrate' | 'psql';

interface Command {
  readonly cmd: string;
  readonly args: string[];
  readonly env?: NodeJS.ProcessEnv;
}

function commandFor(tool: Tool, url: string, dir: string, upFile: string, psql: string, baseline = ''): Command {
  switch (tool) {
    case 'migrator':
      return { cmd: process.execPath, args: [resolve(ROOT, 'bin/migrator.mjs'), 'up', '--database-url', url, '--dir', dir] };
    case 'baseline':
      // Started from its own folder, as that build's users start it.
      return { cmd: process.execPath, args: [baseline, 'up', '--database-url', url, '--dir', dir] };
    case 'node-pg-migrate':
      return {
        cmd: process.execPath,
        // Its defaults otherwise: table pgmigrations, advisory lock, order check. --verbose false stops it
        // printing every statement, which only makes it faster: the stricter baseline for us.
        args: [resolve(ROOT, 'node_modules/node-pg-migrate/bin/node-pg-migrate.js'), 'up', '-m', dir, '--no-single-transaction', '--verbose', 'false'],
        env: { ...process.env, DATABASE_URL: url },
      };
    case 'psql':
      return { cmd: psql, args: ['-X', '-q', '-1', '-v', 'ON_ERROR_STOP=1', '-d', url, '-f', upFile] };
  }
}

async function exec(c: Command): Promise<SpawnResult> {
  return run(c.cmd, c.args, { cwd: ROOT, env: c.env });
}

function failure(tool: Tool, r: SpawnResult): string {
  const tail = (r.stderr || r.stdout).trim().split('\n').filter(Boolean).slice(-3).join(' | ');
  return `${tool} exited ${r.code}: ${tail.slice(0, 300)}`;
}

/** Number of generated tables present: every tool must really have applied everything. */
async function appliedTables(url: string): Promise<number> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'bench\\_entity\\_%'`,
    );
    return rows[0]!.n;
  });
}

/**
 * The CLI's start time against node-pg-migrate's (issue 9: at most half): `--help` of each tool (every
 * module the command line needs loaded, no database), interleaved, paired by round. Then `migrator status`
 * on an up-to-date database (`count` applied) against node-pg-migrate's nearest command there, a no-op `up`
 * (it has no status command). The compiled CLI runs (dist/, no tsx), as an installed package runs it.
 */
async function processStart(server: BenchServer, report: Report, runs: number, dir: string, count: number): Promise<void> {
  const npmCli = resolve(ROOT, 'node_modules/node-pg-migrate/bin/node-pg-migrate.js');
  const ours = [resolve(ROOT, 'bin/migrator.mjs'), '--help'];
  const theirs = [npmCli, '--help'];
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < runs; i++) {
    const ra = await run(process.execPath, ours, { cwd: ROOT });
    const rb = await run(process.execPath, theirs, { cwd: ROOT });
    if (ra.code !== 0 || rb.code !== 0) {
      report.unavailable(SECTION, 'CLI start (--help)', `--help exited ${ra.code} (migrator) / ${rb.code} (node-pg-migrate)`, '<= 0.50x');
      return;
    }
    a.push(ra.ms);
    b.push(rb.ms);
  }
  const ratio = median(a.map((x, i) => x / b[i]!));
  report.add({
    section: SECTION,
    name: 'CLI start (--help): migrator / node-pg-migrate',
    value: `${fmtSeconds(median(a))} / ${fmtSeconds(median(b))} = ${fmtRatio(ratio)}`,
    raw: ratio,
    target: '<= 0.50x',
    verdict: verdict(ratio <= 0.5),
    detail: `medians of ${runs}, ratio paired by round; part of every no-op above`,
  });

  const db = await server.createDatabase('status');
  try {
    const applied = await exec(commandFor('migrator', db.url, dir, '', ''));
    if (applied.code !== 0) {
      report.unavailable(SECTION, 'migrator status (up to date)', failure('migrator', applied));
      return;
    }
    const status = [resolve(ROOT, 'bin/migrator.mjs'), 'status', '--database-url', db.url, '--dir', dir];
    const noop = commandFor('node-pg-migrate', db.url, dir, '', '');
    const s: number[] = [];
    const n: number[] = [];
    for (let i = 0; i < runs; i++) {
      const rs = await run(process.execPath, status, { cwd: ROOT });
      const rn = await exec(noop);
      if (rs.code !== 0 || rn.code !== 0) {
        report.unavailable(SECTION, 'migrator status (up to date)', `exited ${rs.code} (migrator status) / ${rn.code} (node-pg-migrate up)`);
        return;
      }
      s.push(rs.ms);
      n.push(rn.ms);
    }
    const r = median(s.map((x, i) => x / n[i]!));
    report.add({
      section: SECTION,
      name: `migrator status / node-pg-migrate no-op up (${count} applied)`,
      value: `${fmtSeconds(median(s))} / ${fmtSeconds(median(n))} = ${fmtRatio(r)}`,
      raw: r,
      verdict: 'info',
      detail: `medians of ${runs}; status also verifies every checksum`,
    });
  } finally {
    await db.drop();
  }
}

/** Rows in the migrator's checksum bookkeeping (any public table named like *checksum*), or null. */
async function checksumRows(url: string): Promise<number | null> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE '%checksum%' LIMIT 1`);
    if (!rows[0]) return null;
    return (await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM public."${rows[0].t}"`)).rows[0]!.n;
  });
}

export async function benchMigrations(server: BenchServer, report: Report, o: MigrationsBenchOptions): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'migrator-bench-mig-'));
  try {
    const gen = generateMigrations(work, o.count);
    const warm = generateMigrations(join(work, 'warmup'), 5);
    console.log(`  generated ${gen.names.length} migrations (${(gen.bytes / 1000).toFixed(0)} kB) in ${gen.dir}`);

    const tools: Tool[] = ['migrator', ...(o.baseline ? (['baseline'] as const) : []), 'node-pg-migrate', 'psql'];
    const broken = new Map<Tool, string>();
    if (!existsSync(resolve(ROOT, 'bin/migrator.mjs'))) broken.set('migrator', 'bin/migrator.mjs missing');
    if (o.baseline && !existsSync(o.baseline)) broken.set('baseline', `${o.baseline} missing`);
    if (!existsSync(o.psql)) broken.set('psql', `${o.psql} missing`);

    // Warm-up, unmeasured: fills the OS file cache (and jiti's for TypeScript migrations), as on any second run.
    for (const tool of tools) {
      if (broken.has(tool)) continue;
      const db = await server.createDatabase('warm');
      try {
        const r = await exec(commandFor(tool, db.url, warm.dir, warm.concatenatedUpFile, o.psql, o.baseline));
        if (r.code !== 0) broken.set(tool, failure(tool, r));
        else if ((await appliedTables(db.url)) !== 5) broken.set(tool, `${tool} exited 0 but did not apply the migrations (no up command yet?)`);
      } finally {
        await db.drop();
      }
    }

    let checksums: number | null = null;
    const up = new Map<Tool, number[]>(tools.map((t) => [t, []]));
    const noop = new Map<Tool, number[]>(tools.map((t) => [t, []]));
    for (let i = 0; i < o.runs; i++) {
      // Rotate the order each round so drift (caches, background work) does not favour one tool.
      const order = tools.map((_, k) => tools[(k + i) % tools.length]!);
      for (const tool of order) {
        if (broken.has(tool)) continue;
        const db = await server.createDatabase(tool.replace(/\W/g, ''));
        try {
          const c = commandFor(tool, db.url, gen.dir, gen.concatenatedUpFile, o.psql, o.baseline);
          const r = await exec(c);
          if (r.code !== 0) {
            broken.set(tool, failure(tool, r));
            continue;
          }
          const n = await appliedTables(db.url);
          if (n !== o.count) {
            broken.set(tool, `${tool} applied ${n} of ${o.count} migrations`);
            continue;
          }
          up.get(tool)!.push(r.ms);
          if (tool === 'migrator') checksums = await checksumRows(db.url);
          if (tool !== 'psql') {
            const again = await exec(c);
            if (again.code !== 0) broken.set(tool, `no-op: ${failure(tool, again)}`);
            else noop.get(tool)!.push(again.ms);
          }
        } finally {
          await db.drop();
        }
      }
      console.log(`  round ${i + 1}/${o.runs} done`);
    }

    const med = (t: Tool, m: Map<Tool, number[]>) => (broken.has(t) ? Number.NaN : median(m.get(t)!));
    // Ratios are paired by round (both tools ran seconds apart, under the same conditions), then the
    // median is taken: steadier than a ratio of medians on a machine whose speed drifts.
    const paired = (a: Tool, b: Tool, m: Map<Tool, number[]>) => {
      if (broken.has(a) || broken.has(b)) return Number.NaN;
      const xs = m.get(a)!;
      const ys = m.get(b)!;
      return median(xs.slice(0, Math.min(xs.length, ys.length)).map((x, i) => x / ys[i]!));
    };
    const upM = med('migrator', up);
    const upN = med('node-pg-migrate', up);
    const upP = med('psql', up);
    const label: Record<Tool, string> = {
      migrator: `migrator up (${o.count} migrations, fresh DB)`,
      baseline: `baseline migrator up (${o.baseline})`,
      'node-pg-migrate': `node-pg-migrate CLI up (--no-single-transaction)`,
      psql: `psql -1 -f concatenated up SQL (floor)`,
    };
    for (const tool of tools) {
      const reason = broken.get(tool);
      if (reason) {
        report.unavailable(SECTION, label[tool], reason);
        continue;
      }
      const m = med(tool, up);
      const ratios = [
        tool !== 'node-pg-migrate' && Number.isFinite(upN) ? `${fmtRatio(paired(tool, 'node-pg-migrate', up))} node-pg-migrate` : '',
        tool !== 'psql' && Number.isFinite(upP) ? `${fmtRatio(paired(tool, 'psql', up))} psql` : '',
      ].filter(Boolean);
      report.add({
        section: SECTION,
        name: label[tool],
        value: fmtSeconds(m),
        raw: m / 1000,
        verdict: 'info',
        detail: `median of ${up.get(tool)!.length}: ${samplesText(up.get(tool)!)}${ratios.length ? `; ${ratios.join(', ')}` : ''}`,
      });
    }
    if (Number.isFinite(upM) && Number.isFinite(upN)) {
      report.add({
        section: SECTION,
        name: 'up: migrator / node-pg-migrate CLI',
        value: fmtRatio(paired('migrator', 'node-pg-migrate', up)),
        raw: paired('migrator', 'node-pg-migrate', up),
        // Issue 11: bookkeeping costs no round trip node-pg-migrate does not make (was <= 1.30x, issue 2).
        target: '<= 1.05x',
        verdict: verdict(paired('migrator', 'node-pg-migrate', up) <= 1.05),
        detail:
          `median of per-round ratios (ratio of medians ${fmtRatio(upM / upN)})` +
          (Number.isFinite(upP) ? `; vs psql floor: migrator ${fmtRatio(paired('migrator', 'psql', up))}, node-pg-migrate ${fmtRatio(paired('node-pg-migrate', 'psql', up))}` : ''),
      });
    } else {
      report.unavailable(SECTION, 'up: migrator / node-pg-migrate CLI', [broken.get('migrator'), broken.get('node-pg-migrate')].filter(Boolean).join('; '), '<= 1.05x');
    }
    if (o.baseline && !broken.has('baseline') && Number.isFinite(upN)) {
      report.add({
        section: SECTION,
        name: 'up: baseline migrator / node-pg-migrate CLI (same rounds)',
        value: fmtRatio(paired('baseline', 'node-pg-migrate', up)),
        raw: paired('baseline', 'node-pg-migrate', up),
        verdict: 'info',
        detail: `this build / baseline: ${fmtRatio(paired('migrator', 'baseline', up))} (median of per-round ratios)`,
      });
    }

    const noM = med('migrator', noop);
    const noN = med('node-pg-migrate', noop);
    if (Number.isFinite(noN)) {
      report.add({
        section: SECTION,
        name: `node-pg-migrate CLI no-op up (${o.count} applied)`,
        value: fmtSeconds(noN),
        raw: noN / 1000,
        verdict: 'info',
        detail: `median of ${noop.get('node-pg-migrate')!.length}: ${samplesText(noop.get('node-pg-migrate')!)}`,
      });
    }
    if (Number.isFinite(noM)) {
      report.add({
        section: SECTION,
        name: `migrator no-op up (${o.count} applied, checksums verified)`,
        value: fmtSeconds(noM),
        raw: noM / 1000,
        target: '<= 0.50 s',
        verdict: verdict(noM <= 500),
        detail: `median of ${noop.get('migrator')!.length}: ${samplesText(noop.get('migrator')!)}; ${checksums === null ? 'no checksum table found' : `${checksums} checksums recorded`}`,
      });
      if (Number.isFinite(noN)) {
        report.add({
          section: SECTION,
          name: 'no-op: migrator / node-pg-migrate CLI',
          value: fmtRatio(paired('migrator', 'node-pg-migrate', noop)),
          raw: paired('migrator', 'node-pg-migrate', noop),
          target: '<= 1.30x',
          verdict: verdict(paired('migrator', 'node-pg-migrate', noop) <= 1.3),
          detail: `median of per-round ratios (ratio of medians ${fmtRatio(noM / noN)})`,
        });
      }
    } else {
      report.unavailable(SECTION, `migrator no-op up (${o.count} applied)`, broken.get('migrator') ?? 'no sample', '<= 0.50 s');
    }
    if (!broken.has('migrator')) await processStart(server, report, o.runs, gen.dir, o.count);
  } catch (e) {
    if (!(e instanceof Unavailable)) console.error(e);
    report.unavailable(SECTION, 'migrations benchmark', reasonOf(e));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
