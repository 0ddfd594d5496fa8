/**
 * The migrator Lambda asset, staged at synth: the handler prebuilt when the package was built
 * (dist/lambda/index.mjs), plus the app's migrations and seeds. TypeScript migrations are precompiled to
 * `migrations/.compiled/<name>.mjs` (an esbuild bundle cannot load .ts at run time; see files.ts). Nothing
 * here depends on the app's layout, its lock file or its node_modules.
 */
import { cpSync, copyFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AssetHashType, DockerImage } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Code } from 'aws-cdk-lib/aws-lambda';
import type * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { shipped } from '../content-hash.ts';

/**
 * The prebuilt handler bundle: next to the compiled construct in the package (dist/infra/asset -> dist/lambda),
 * or dist/lambda in a source checkout (tests and the sample app run the construct from its .ts source).
 */
export function handlerBundlePath(bundle: HandlerBundle = 'migrator'): string {
  const fromSource = import.meta.url.endsWith('.ts');
  const file = bundle === 'fleet' ? 'lambda/fleet/index.mjs' : 'lambda/index.mjs';
  return fileURLToPath(new URL(fromSource ? `../../dist/${file}` : `../../${file}`, import.meta.url));
}

/** The prebuilt handler bundles: DatabaseMigrations' (onEvent, operations) and the fleet's. */
export type HandlerBundle = 'migrator' | 'fleet';

export interface StageAssetOptions {
  /** The asset folder to fill (CDK's bundling output directory). */
  readonly out: string;
  readonly migrationsDir: string;
  readonly seedsDir?: string;
  /** Content hash of migrations + seeds (infra/content-hash.ts), recorded in the manifest. */
  readonly hash: string;
  /** Which prebuilt handler goes in as index.mjs; default the migrator's. */
  readonly bundle?: HandlerBundle;
}

const TS_MIGRATION = /\.(ts|mts|cts)$/;
const requireHere = createRequire(import.meta.url);

/**
 * The Lambda code: `stageAsset` run by CDK's local bundling at synth (only for stacks being synthesized),
 * with no Docker, no lock file and no bundler run over our sources.
 */
export function stagedCode(options: Omit<StageAssetOptions, 'out'>): lambda.Code {
  return Code.fromAsset(options.migrationsDir, stagedAssetOptions(options));
}

/**
 * The staging as asset options, for an asset that is not Lambda code (the fleet's CodeBuild source): the
 * same output, so the same hash, so CDK uploads it once.
 */
export function stagedAssetOptions(options: Omit<StageAssetOptions, 'out'>): s3assets.AssetOptions {
  return {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Required by the type; never pulled, because local staging always succeeds or throws.
      image: DockerImage.fromRegistry('pg-tenant-migrator-local-staging'),
      local: {
        tryBundle: (outputDir: string) => {
          stageAsset({ ...options, out: outputDir });
          return true;
        },
      },
    },
  };
}

export function stageAsset(options: StageAssetOptions): void {
  const { out, migrationsDir, seedsDir, hash } = options;
  const handler = handlerBundlePath(options.bundle);
  if (!existsSync(handler)) {
    throw new Error(`The prebuilt migrator handler ${handler} is missing: in a source checkout run \`npm run build\`; in an installed package, reinstall pg-tenant-migrator.`);
  }
  copyFileSync(handler, join(out, 'index.mjs'));
  // The fleet's long-running runner (CodeBuild runs `node build.mjs up` from this same asset).
  if (options.bundle === 'fleet') copyFileSync(join(dirname(handler), 'build.mjs'), join(out, 'build.mjs'));

  // Dot files and folders (editor state, a stale local .compiled/) and documentation never ship: the same
  // rule as the content hash, so the hash covers exactly what ships.
  const filter = (root: string) => (src: string) => src === root || shipped(basename(src));
  const migrationsOut = join(out, 'migrations');
  mkdirSync(migrationsOut, { recursive: true });
  cpSync(migrationsDir, migrationsOut, { recursive: true, filter: filter(migrationsDir) });

  const tsMigrations = readdirSync(migrationsDir).filter((f) => TS_MIGRATION.test(f) && !/\.d\.[cm]?ts$/.test(f) && shipped(f));
  if (tsMigrations.length > 0) compileMigrations(tsMigrations.map((f) => join(migrationsDir, f)), join(migrationsOut, '.compiled'));

  // Packages the handler bundle keeps external and the runtime lacks: libpg-query (PostgreSQL's parser as
  // WebAssembly, loaded only when pending migrations are checked; its .wasm must sit beside its glue) and
  // its one runtime dependency. Only their runtime files. Resolved from this package, so a consumer's app
  // ships the versions we were tested with.
  const runtimeFiles = (src: string) => !/\.(d\.ts|md)$/.test(src) && !/[\\/]esm$/.test(src);
  const libpgQuery = dirname(requireHere.resolve('libpg-query/package.json'));
  const pgsqlTypes = dirname(createRequire(join(libpgQuery, 'package.json')).resolve('@pgsql/types/package.json'));
  for (const [name, src] of [['libpg-query', libpgQuery], ['@pgsql/types', pgsqlTypes]] as const) {
    cpSync(src, join(out, 'node_modules', name), { recursive: true, filter: runtimeFiles });
  }

  let seeds: string[] = [];
  if (seedsDir && existsSync(seedsDir)) {
    const seedsOut = join(out, 'seeds');
    mkdirSync(seedsOut, { recursive: true });
    cpSync(seedsDir, seedsOut, { recursive: true, filter: filter(seedsDir) });
    seeds = readdirSync(seedsDir, { recursive: true })
      .map(String)
      .filter((f) => f.split('/').every(shipped) && statSync(join(seedsDir, f)).isFile());
  }

  // The handler reads this to tell which content it carries (rollback detection); tests read it to prove
  // every file made it into the asset.
  writeFileSync(
    join(out, 'asset-manifest.json'),
    JSON.stringify(
      {
        contentHash: hash,
        migrations: readdirSync(migrationsDir).filter(shipped).sort(),
        compiled: tsMigrations.map((f) => f.replace(TS_MIGRATION, '.mjs')).sort(),
        seeds: seeds.sort(),
      },
      null,
      2,
    ),
  );
}

/**
 * esbuild, loaded only when the folder has TypeScript migrations (a dependency of this package, so the
 * app needs nothing of its own). Synchronous because CDK's local bundling is.
 */
function compileMigrations(entryPoints: string[], outdir: string): void {
  const esbuild = requireHere('esbuild') as typeof import('esbuild');
  esbuild.buildSync({
    entryPoints,
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    // Types-only imports vanish; anything else a migration imports is inlined, except the SDK the runtime has.
    external: ['@aws-sdk/*', 'pg-native'],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'warning',
  });
}
