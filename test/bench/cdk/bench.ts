/**
 * Section C (issue 4): the migrator Lambda asset as `cdk synth` builds it: its unzipped size, the
 * bundled handler's cold import time (a fresh `node` per sample, minus a bare `node -e ""`), and a
 * warm no-op Update event end to end against a migrated database and the KMS/Secrets Manager stand-in.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchServer } from '../lib/server.ts';
import { fmtBytes, fmtMs, fmtSeconds, verdict, type Report } from '../lib/report.ts';
import { median, run } from '../lib/timing.ts';
import { Unavailable, reasonOf } from '../lib/optional.ts';
import { assetSize, synthMigratorAsset, zippedSize, type MigratorAsset } from './asset.ts';
import { benchWarmUpdate } from './warm-update.ts';

export interface CdkBenchOptions {
  readonly runs: number;
}

const SECTION = 'C. CDK (issue 4)';
const SIZE_TARGET = 1_500_000;

/** The function's environment with CloudFormation tokens replaced by placeholders, as in Lambda. */
function lambdaEnv(asset: MigratorAsset): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    AWS_REGION: 'us-east-1',
    AWS_LAMBDA_FUNCTION_NAME: 'bench-migrator',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
  };
  for (const [k, v] of Object.entries(asset.environment)) env[k] = typeof v === 'string' ? v : `bench-placeholder-${k.toLowerCase()}`;
  // The runtime's CA bundle path does not exist here; Node would warn, which is not part of an import.
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

/** `@aws-sdk/*` packages the bundle imports from the runtime (kept external by the construct). */
function externalSdkImports(entry: string): string[] {
  const text = readFileSync(entry, 'utf8');
  return [...new Set([...text.matchAll(/(?:from|import\()\s*"(@aws-sdk\/[^"]+)"/g)].map((m) => m[1]!))].sort();
}

async function coldImport(report: Report, asset: MigratorAsset, runs: number): Promise<void> {
  const url = pathToFileURL(asset.entry).href;
  const script = `import(process.argv[1]).then((m) => { if (typeof m[process.argv[2]] !== 'function') { console.error('no export ' + process.argv[2]); process.exit(3); } }, (e) => { console.error(e); process.exit(1); })`;
  const sdk = externalSdkImports(asset.entry);
  // Resolved from the asset directory, like the bundle's own imports.
  const sdkScript = `Promise.all(${JSON.stringify(sdk)}.map((p) => import(p))).catch((e) => { console.error(e); process.exit(1); })`;
  const env = lambdaEnv(asset);
  const bare: number[] = [];
  const imported: number[] = [];
  const sdkOnly: number[] = [];
  // One unmeasured round: the first spawn pays for reading node itself from disk.
  await run(process.execPath, ['-e', '']);
  const first = await run(process.execPath, ['-e', script, url, asset.handlerExport], { env });
  if (first.code !== 0) throw new Unavailable(`importing the bundled handler failed: ${(first.stderr || first.stdout).trim().split('\n')[0]}`);
  for (let i = 0; i < runs; i++) {
    bare.push((await run(process.execPath, ['-e', ''], { env })).ms);
    imported.push((await run(process.execPath, ['-e', script, url, asset.handlerExport], { env })).ms);
    if (sdk.length) {
      const r = await run(process.execPath, ['-e', sdkScript], { env, cwd: asset.dir });
      if (r.code === 0) sdkOnly.push(r.ms);
    }
  }
  const b = median(bare);
  const m = median(imported);
  const s = sdkOnly.length === runs ? median(sdkOnly) - b : Number.NaN;
  report.add({
    section: SECTION,
    name: 'bundled handler cold import (minus bare node)',
    value: fmtMs(m - b),
    raw: (m - b) / 1000,
    target: '< 300 ms',
    verdict: verdict(m - b < 300),
    detail:
      `node -e "import(handler)" ${fmtMs(m)} vs node -e "" ${fmtMs(b)}, medians of ${runs}` +
      (Number.isFinite(s) ? `; of which the runtime-provided ${sdk.join(', ')} alone ${fmtMs(s)}` : '') +
      `; node ${process.version} here, ${asset.runtime} ${asset.architectures.join(',')} in Lambda`,
  });
}

export async function benchCdk(server: BenchServer, report: Report, o: CdkBenchOptions): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'migrator-bench-cdk-'));
  let asset: MigratorAsset;
  try {
    try {
      asset = await synthMigratorAsset();
    } catch (e) {
      const reason = reasonOf(e);
      report.unavailable(SECTION, 'migrator asset size (unzipped)', reason, '< 1.5 MB');
      report.unavailable(SECTION, 'bundled handler cold import (minus bare node)', reason, '< 300 ms');
      report.unavailable(SECTION, 'warm no-op Update, end to end', reason);
      return;
    }
    report.add({
      section: SECTION,
      name: 'cdk synth of the sample app',
      value: fmtSeconds(asset.synthMs),
      raw: asset.synthMs / 1000,
      verdict: 'info',
      detail: 'bundling included; one sample',
    });
    const size = assetSize(asset.dir);
    const zipped = await zippedSize(asset.dir, tmp);
    report.add({
      section: SECTION,
      name: 'migrator asset size (unzipped)',
      value: fmtBytes(size.bytes),
      raw: size.bytes,
      target: '< 1.5 MB',
      verdict: verdict(size.bytes < SIZE_TARGET),
      detail: `${size.files} files; ${size.parts.slice(0, 4).map(([p, n]) => `${p} ${fmtBytes(n)}`).join(', ')}${zipped ? `; zipped ${fmtBytes(zipped)}` : ''}`,
    });
    try {
      // A placeholder entry (a few hundred bytes) would "pass" the import target without meaning anything.
      const entryBytes = statSync(asset.entry).size;
      if (entryBytes < 4_000) throw new Unavailable(`the bundled handler is a placeholder (${fmtBytes(entryBytes)})`);
      await coldImport(report, asset, o.runs);
    } catch (e) {
      if (!(e instanceof Unavailable)) console.error(e);
      report.unavailable(SECTION, 'bundled handler cold import (minus bare node)', reasonOf(e), '< 300 ms');
    }
    try {
      await benchWarmUpdate(server, report, asset, SECTION, Math.min(o.runs, 5));
    } catch (e) {
      if (!(e instanceof Unavailable)) console.error(e);
      report.unavailable(SECTION, 'warm no-op Update, end to end', reasonOf(e));
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
