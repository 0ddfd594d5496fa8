#!/usr/bin/env node
// `npm run build` (also `prepare`, so `npm ci` and `npm pack` build): the library as JavaScript with
// declarations in dist/ (tsc, tsconfig.build.json) and the Lambda handler prebuilt into
// dist/lambda/index.mjs (esbuild), so neither a consumer's synth nor the CLI needs tsx or a bundler for our code.
// Plain .mjs: it runs before anything is compiled.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleOptions } from './handler-bundle.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(ROOT, 'dist');

// Up to date (nothing in the sources newer than the last build): nothing to do, and dist/ is left alone,
// so a `prepare` run by `npm install <this folder>` never pulls dist/ from under a running CLI or test.
// `--force` rebuilds anyway.
const STAMP = join(DIST, '.build-stamp');
const SOURCES = ['bin', 'functions', 'infra', 'local', 'scripts', 'package.json', 'tsconfig.json', 'tsconfig.build.json'];
const newest = (path) => {
  const st = statSync(path);
  return st.isDirectory() ? readdirSync(path).reduce((max, name) => Math.max(max, newest(join(path, name))), st.mtimeMs) : st.mtimeMs;
};
if (!process.argv.includes('--force') && existsSync(STAMP)) {
  const built = statSync(STAMP).mtimeMs;
  if (built > Math.max(...SOURCES.map((s) => join(ROOT, s)).filter(existsSync).map(newest))) {
    console.error('dist/ is up to date (npm run build -- --force rebuilds)');
    process.exit(0);
  }
}

rmSync(DIST, { recursive: true, force: true });

// 1. tsc: .js + .d.ts (relative `.ts` specifiers rewritten to `.js` in the JavaScript).
const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);

// 2. tsc keeps `./x.ts` in declaration files; consumers' compilers resolve `./x.js` without any option.
const walk = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(join(dir, d.name)) : [join(dir, d.name)]));
for (const file of walk(DIST).filter((f) => f.endsWith('.d.ts'))) {
  const text = readFileSync(file, 'utf8');
  const fixed = text.replace(/(from\s+|import\()(['"])(\.{1,2}\/[^'"]+?)\.([cm]?)ts\2/g, (_m, lead, q, path, m) => `${lead}${q}${path}.${m}js${q}`);
  if (fixed !== text) writeFileSync(file, fixed);
}

// 3. Plain .mjs modules the sources load at run time (tsc copies only what it compiles).
for (const folder of ['functions', 'local']) {
  for (const file of walk(join(ROOT, folder)).filter((f) => f.endsWith('.mjs'))) {
    const out = join(DIST, relative(ROOT, file));
    mkdirSync(dirname(out), { recursive: true });
    cpSync(file, out);
  }
}

// 4. The Lambda handler, bundled once here (what NodejsFunction used to do at every consumer's synth).
await build(bundleOptions(join(DIST, 'lambda', 'index.mjs')));
await build(bundleOptions(join(DIST, 'lambda', 'fleet', 'index.mjs'), 'functions/handlers/fleet-index.ts'));
// The fleet's long-running runner, run by CodeBuild (Node 22) from the same staged asset.
// CodeBuild images have no AWS SDK: it is bundled here (only the Lambda runtime provides one).
const buildRunner = bundleOptions(join(DIST, 'lambda', 'fleet', 'build.mjs'), 'functions/handlers/fleet-build.ts');
await build({ ...buildRunner, target: 'node22', external: buildRunner.external.filter((e) => e !== '@aws-sdk/*') });
// Tests rebuild when a source is newer than this (test/support/build.ts).
writeFileSync(join(DIST, '.build-stamp'), `${new Date().toISOString()}\n`);
console.error(`built ${relative(process.cwd(), DIST) || DIST}/ (library, declarations, lambda/index.mjs, lambda/fleet/index.mjs, lambda/fleet/build.mjs)`);
