/**
 * The migrator's real Lambda asset, as `cdk synth` produces it: synthesize a stack with `DatabaseMigrations`,
 * find the function's asset directory in the cloud assembly (from the template's Code.S3Key, the asset hash),
 * and hand back what a deploy would give the function: its environment and the custom resource's properties.
 * Also what the bench measures: asset size and cold import time of the bundled handler.
 */
import { App } from 'aws-cdk-lib';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MigratorStack } from '../../../infra/stacks/migrator-stack.ts';

export const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface MigratorAsset {
  /** Cloud assembly directory (remove with `cleanup()`). */
  outdir: string;
  /** The asset directory (what Lambda unzips to /var/task). */
  dir: string;
  /** The bundled handler module. */
  handlerFile: string;
  /** Environment variables of the custom resource function, as synthesized (tokens left as objects). */
  environment: Record<string, unknown>;
  /** Properties of the Custom::DatabaseMigrations resource (without ServiceToken). */
  properties: Record<string, string>;
  cleanup(): void;
}

export interface SynthAssetOptions {
  migrationsDir: string;
  seedsDir?: string;
  stage?: 'staging' | 'prod';
  runOn?: 'every-deploy' | 'content-change';
}

/**
 * Synthesizes the sample stack around the given folders. The assembly goes under the project's cdk.out/ so
 * the bundle resolves the AWS SDK from the project's node_modules, as it resolves the runtime's on Lambda.
 */
export function synthMigratorAsset(options: SynthAssetOptions): MigratorAsset {
  const outdir = join(PROJECT_ROOT, 'cdk.out', `.sim-${randomBytes(4).toString('hex')}`);
  mkdirSync(outdir, { recursive: true });
  const app = new App({ outdir });
  const stack = new MigratorStack(app, 'Sim', {
    stage: options.stage ?? 'staging',
    migrationsDir: options.migrationsDir,
    seedsDir: options.seedsDir,
    runOn: options.runOn,
  });
  app.synth();
  const template = JSON.parse(readFileSync(join(outdir, stack.templateFile), 'utf8'));
  const resources = Object.values(template.Resources as Record<string, any>);
  const fn = resources.find((r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Handler === 'index.onEvent');
  const cr = resources.find((r) => r.Type === 'Custom::DatabaseMigrations');
  if (!fn || !cr) throw new Error('synthesized template lacks the migrator function or its custom resource');
  const dir = join(outdir, `asset.${String(fn.Properties.Code.S3Key).replace(/\.zip$/, '')}`);
  const { ServiceToken: _token, ...properties } = cr.Properties as Record<string, string>;
  return {
    outdir,
    dir,
    handlerFile: join(dir, 'index.mjs'),
    environment: fn.Properties.Environment.Variables,
    properties,
    cleanup: () => rmSync(outdir, { recursive: true, force: true }),
  };
}

/** Total bytes of the unzipped asset (what counts against Lambda's 250 MB and cold start). */
export function assetSizeBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { recursive: true })) {
    const st = statSync(join(dir, String(entry)));
    if (st.isFile()) total += st.size;
  }
  return total;
}

/**
 * Cold import time of the bundled handler: a fresh `node` process per sample (nothing cached in-process),
 * timing `import('index.mjs')` inside it. Returns every sample and the median, in milliseconds.
 */
export function measureColdImport(handlerFile: string, samples = 5): { samplesMs: number[]; medianMs: number } {
  const script =
    "const t=performance.now();import(process.argv[1]).then(()=>{process.stdout.write(String(performance.now()-t))})";
  const samplesMs: number[] = [];
  for (let i = 0; i < samples; i++) {
    const r = spawnSync(process.execPath, ['-e', script, handlerFile], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`importing ${handlerFile} failed: ${r.stderr}`);
    samplesMs.push(Number(r.stdout));
  }
  const sorted = [...samplesMs].sort((a, b) => a - b);
  return { samplesMs, medianMs: sorted[Math.floor(sorted.length / 2)]! };
}
