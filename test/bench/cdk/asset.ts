/**
 * Synthesizes the sample app into .bench/cdk.out (never the project's cdk.out, which other work uses)
 * and finds the migrator function's asset: the Lambda function whose handler is `index.onEvent`.
 * The output stays inside the repository on purpose: the bundle keeps `@aws-sdk/*` external (the
 * Lambda runtime provides it), and from here Node resolves it from the project's node_modules.
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ROOT, Unavailable } from '../lib/optional.ts';
import { run } from '../lib/timing.ts';

export interface MigratorAsset {
  readonly dir: string;
  /** Entry file of the bundle (index.mjs or index.js). */
  readonly entry: string;
  readonly handlerExport: string;
  readonly runtime: string;
  readonly architectures: string[];
  /** Environment variables of the function as synthesized (tokens left as they are). */
  readonly environment: Record<string, unknown>;
  readonly synthMs: number;
  readonly outDir: string;
}

interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
}

export async function synthMigratorAsset(): Promise<MigratorAsset> {
  for (const f of ['cdk.json', 'bin/app.ts', 'functions/handlers/index.ts']) {
    if (!existsSync(resolve(ROOT, f))) throw new Unavailable(`${f} missing`);
  }
  const outDir = resolve(ROOT, '.bench/cdk.out');
  rmSync(outDir, { recursive: true, force: true });
  const cdk = resolve(ROOT, 'node_modules/aws-cdk/bin/cdk');
  const r = await run(process.execPath, [cdk, 'synth', '-q', '-o', outDir], { cwd: ROOT, timeoutMs: 180_000 });
  if (r.code !== 0) {
    const tail = (r.stderr || r.stdout).trim().split('\n').filter(Boolean).slice(-3).join(' | ');
    throw new Unavailable(`cdk synth failed: ${tail.slice(0, 300)}`);
  }
  const templates = readdirSync(outDir).filter((f) => f.endsWith('.template.json'));
  for (const t of templates) {
    const template = JSON.parse(readFileSync(join(outDir, t), 'utf8')) as { Resources?: Record<string, CfnResource> };
    for (const res of Object.values(template.Resources ?? {})) {
      const p = res.Properties ?? {};
      if (res.Type !== 'AWS::Lambda::Function' || p.Handler !== 'index.onEvent') continue;
      const assetPath = res.Metadata?.['aws:asset:path'];
      if (typeof assetPath !== 'string') continue;
      const dir = resolve(outDir, assetPath);
      const entry = ['index.mjs', 'index.js'].map((f) => join(dir, f)).find((f) => existsSync(f));
      if (!entry) throw new Unavailable(`asset ${assetPath} has no index.mjs or index.js`);
      const env = ((p.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {}) as Record<string, unknown>;
      return {
        dir,
        entry,
        handlerExport: 'onEvent',
        runtime: String(p.Runtime ?? '?'),
        architectures: (p.Architectures as string[] | undefined) ?? ['x86_64'],
        environment: env,
        synthMs: r.ms,
        outDir,
      };
    }
  }
  throw new Unavailable('no Lambda function with handler index.onEvent in the synthesized templates');
}

export interface SizeSummary {
  readonly bytes: number;
  readonly files: number;
  /** Bytes per top-level entry (index.mjs, migrations/, seeds/, ...), largest first. */
  readonly parts: [string, number][];
}

function du(path: string): { bytes: number; files: number } {
  const st = statSync(path);
  if (!st.isDirectory()) return { bytes: st.size, files: 1 };
  let bytes = 0;
  let files = 0;
  for (const e of readdirSync(path)) {
    const s = du(join(path, e));
    bytes += s.bytes;
    files += s.files;
  }
  return { bytes, files };
}

export function assetSize(dir: string): SizeSummary {
  const parts: [string, number][] = [];
  let bytes = 0;
  let files = 0;
  for (const e of readdirSync(dir)) {
    const s = du(join(dir, e));
    parts.push([e, s.bytes]);
    bytes += s.bytes;
    files += s.files;
  }
  parts.sort((a, b) => b[1] - a[1]);
  return { bytes, files, parts };
}

/** Size of the asset as CDK would upload it (zip of the directory), when `zip` is installed. */
export async function zippedSize(dir: string, tmp: string): Promise<number | null> {
  const out = join(tmp, 'asset.zip');
  try {
    const r = await run('zip', ['-q', '-r', '-X', out, '.'], { cwd: dir });
    return r.code === 0 ? statSync(out).size : null;
  } catch {
    return null;
  }
}
