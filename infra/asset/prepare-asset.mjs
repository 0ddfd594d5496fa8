#!/usr/bin/env node
// Runs in NodejsFunction's afterBundling hook (locally, never in Docker): copies the migrations and seeds
// into the Lambda asset and precompiles TypeScript migrations to `migrations/.compiled/<name>.mjs`, because
// an esbuild bundle cannot load .ts files at run time. Plain .mjs so it needs no TypeScript loader.
//
// usage: node prepare-asset.mjs --out DIR --migrations DIR [--seeds DIR] --hash HEX
import { build } from 'esbuild';
import { cpSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    migrations: { type: 'string' },
    seeds: { type: 'string' },
    hash: { type: 'string' },
  },
});
if (!values.out || !values.migrations || !values.hash) {
  console.error('prepare-asset: --out, --migrations and --hash are required');
  process.exit(2);
}

// Dot files and folders (editor state, a stale local .compiled/) and documentation never go into the asset;
// the same rule as `shipped()` in infra/content-hash.ts, so the hash covers exactly what ships.
const shipped = (name) => !name.startsWith('.') && !/\.md$/i.test(name);
const filter = (src) => src === values.migrations || src === values.seeds || shipped(basename(src));

const migrationsOut = join(values.out, 'migrations');
mkdirSync(migrationsOut, { recursive: true });
cpSync(values.migrations, migrationsOut, { recursive: true, filter });

const tsMigrations = readdirSync(values.migrations).filter(
  (f) => /\.(ts|mts|cts)$/.test(f) && !f.endsWith('.d.ts') && shipped(f),
);
if (tsMigrations.length > 0) {
  await build({
    entryPoints: tsMigrations.map((f) => join(values.migrations, f)),
    outdir: join(migrationsOut, '.compiled'),
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

// Packages the bundle keeps external and the runtime lacks: libpg-query (PostgreSQL's parser as
// WebAssembly, loaded only when pending migrations are checked) and its one runtime dependency. Only
// their runtime files (no type declarations, docs or ESM copies). Resolved from this package, so a
// consumer's app ships the versions we were tested with.
const runtimeFiles = (src) => !/\.(d\.ts|md)$/.test(src) && !/[\\/]esm$/.test(src);
const requireHere = createRequire(import.meta.url);
const libpgQuery = dirname(requireHere.resolve('libpg-query/package.json'));
const pgsqlTypes = dirname(createRequire(join(libpgQuery, 'package.json')).resolve('@pgsql/types/package.json'));
for (const [name, src] of [['libpg-query', libpgQuery], ['@pgsql/types', pgsqlTypes]]) {
  cpSync(src, join(values.out, 'node_modules', name), { recursive: true, filter: runtimeFiles });
}

let seeds = [];
if (values.seeds && existsSync(values.seeds)) {
  const seedsOut = join(values.out, 'seeds');
  mkdirSync(seedsOut, { recursive: true });
  cpSync(values.seeds, seedsOut, { recursive: true, filter });
  seeds = readdirSync(values.seeds, { recursive: true })
    .map(String)
    .filter((f) => f.split('/').every(shipped) && statSync(join(values.seeds, f)).isFile());
}

// The handler reads this to tell which content it carries (rollback detection) and tests read it to prove
// every file made it into the bundle.
writeFileSync(
  join(values.out, 'asset-manifest.json'),
  JSON.stringify(
    {
      contentHash: values.hash,
      migrations: readdirSync(values.migrations).filter(shipped).sort(),
      compiled: tsMigrations.map((f) => f.replace(/\.(ts|mts|cts)$/, '.mjs')).sort(),
      seeds: seeds.sort(),
    },
    null,
    2,
  ),
);
