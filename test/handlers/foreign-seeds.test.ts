/**
 * Issue 12 item 4 through the Lambda code: each foreign fixture (test/seed/fixtures/: its own migrations and
 * seed model) synthesized into the real bundled asset with the construct's `seedsDir`, driven with
 * CloudFormation events (deploy function) and operations payloads (operations function) against real
 * PostgreSQL and the KMS / Secrets Manager stand-in. Same facts as the CLI tests (test/seed/foreign-cli.test.ts):
 * first deploy seeds every table of the model; a second writes nothing and calls no Encrypt; a new secret
 * version re-encrypts one tenant's value; contexts are bound to the tenant; plan writes nothing; reset of one
 * tenant; a value that does not cast, and every kind of bad model, fail the deploy naming file:line with no
 * table changed; no plaintext in the database or the function's logs.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { synthMigratorAsset, type MigratorAsset } from './support/asset.ts';
import { createEvent, lambdaContext, updateEvent } from './support/lambda.ts';
import { captureOutput, setupSimEnv, type SimEnv } from './support/sim-env.ts';
import { fingerprint, writeCounters } from '../seed/helpers.ts';
import { FIXTURES, copyFixture, lineOf, plaintextHits, putSecrets } from '../seed/foreign/fixtures.ts';
import { KINDS, placeOf } from '../seed/foreign/bad-models.ts';
import {
  expectCiphertexts,
  expectContextsBound,
  expectGeneratedKeys,
  expectOnlyBumpedReencrypted,
  expectTableCounts,
  rowsOfOtherTenants,
} from '../seed/foreign/checks.ts';

type Handler = (event: unknown, context: unknown) => Promise<any>;
const STAGE = 'staging';
const SECRET_PREFIX = 'migrator/staging';
const RUNS = 'public.migration_runs';
const withoutRuns = (f: Record<string, unknown>) => Object.fromEntries(Object.entries(f).filter(([t]) => t !== RUNS));
const savedEnv = { ...process.env };

describe.each(FIXTURES)('$name fixture: the deploy and operations functions (bundled asset)', (fx) => {
  let work: string;
  let asset: MigratorAsset;
  let sim: SimEnv;
  let kms: KMSClient;
  let sm: SecretsManagerClient;
  let onEvent: Handler;
  let operations: Handler;
  let output: ReturnType<typeof captureOutput>;
  let physicalId: string;
  let pristineSeeds: string;
  let providerValues: string[];
  const generated = new Set<string>();
  const bundledSeeds = () => join(asset.dir, 'seeds');
  const encrypts = () => sim.standIn.callCount('TrentService.Encrypt');
  const deploy = async () => {
    Object.assign(process.env, sim.lambdaEnv(asset));
    const event = physicalId ? updateEvent(physicalId, asset.properties, asset.properties) : createEvent(asset.properties);
    const res = await onEvent(event, lambdaContext());
    physicalId = res.PhysicalResourceId;
    return res;
  };
  const deployError = () => deploy().then(
    () => undefined,
    (e: Error) => e,
  );
  const operate = async (payload: Record<string, unknown>) => {
    Object.assign(process.env, sim.lambdaEnv(asset));
    return operations(payload, lambdaContext({ functionName: 'Sim-MigrationsOperations' }));
  };
  const lastRun = async () => (await sim.client.query(`SELECT outcome, error, seed_summary FROM ${RUNS} ORDER BY started_at DESC LIMIT 1`)).rows[0];
  const runCount = async () => (await sim.client.query(`SELECT count(*)::int AS n FROM ${RUNS}`)).rows[0].n as number;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), `lambda-${fx.name}-`));
    const dir = copyFixture(fx, work);
    asset = synthMigratorAsset({ migrationsDir: join(dir, 'migrations'), seedsDir: join(dir, 'seeds') });
    pristineSeeds = join(work, 'pristine-seeds');
    cpSync(bundledSeeds(), pristineSeeds, { recursive: true });
    sim = await setupSimEnv(STAGE);
    const config = { ...sim.standIn.clientConfig(), credentials: { ...sim.standIn.credentials }, maxAttempts: 2 };
    kms = new KMSClient(config);
    sm = new SecretsManagerClient(config);
    providerValues = await putSecrets(sm, fx.providerSecrets(STAGE));
    const bundle = await import(/* @vite-ignore */ pathToFileURL(asset.handlerFile).href);
    onEvent = bundle.onEvent;
    operations = bundle.operations;
    output = captureOutput();
  }, 180_000);

  afterAll(async () => {
    output?.restore();
    process.env = { ...savedEnv };
    kms?.destroy();
    sm?.destroy();
    await sim?.close();
    asset?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('the asset ships the seed model with the data files', () => {
    const manifest = JSON.parse(readFileSync(join(asset.dir, 'asset-manifest.json'), 'utf8'));
    expect(manifest.seeds).toContain('seed.config.yaml');
    expect(readFileSync(join(bundledSeeds(), 'seed.config.yaml'), 'utf8')).toBe(readFileSync(join(fx.source, 'seeds', 'seed.config.yaml'), 'utf8'));
  });

  it('the construct conditions kms:Encrypt on the encryption-context keys the model declares', () => {
    const template = JSON.parse(readFileSync(join(asset.outdir, 'Sim.template.json'), 'utf8'));
    const statements = Object.values(template.Resources as Record<string, any>)
      .filter((r) => r.Type === 'AWS::IAM::Policy')
      .flatMap((r) => r.Properties.PolicyDocument.Statement)
      .filter((st: any) => [st.Action].flat().includes('kms:Encrypt'));
    expect(statements.length).toBeGreaterThan(0);
    for (const st of statements) expect([...st.Condition['ForAllValues:StringEquals']['kms:EncryptionContextKeys']].sort()).toEqual(fx.contextKeys);
  });

  it('operations seed with plan on the fresh database migrates nothing, writes nothing, calls no Encrypt', async () => {
    // The plan needs the schema: migrate first (its own recorded run), then plan.
    const migrated = await operate({ action: 'migrate', actor: 'test' });
    expect(migrated.ok).toBe(true);
    const before = await fingerprint(sim.client);
    sim.standIn.resetCalls();
    const r = await operate({ action: 'seed', plan: true, actor: 'test' });
    expect(r.ok).toBe(true);
    expect(r.result.mode).toBe('plan');
    expect(await fingerprint(sim.client)).toEqual(before);
    expect(encrypts()).toBe(0);
    expect(sim.standIn.callCount('secretsmanager.CreateSecret') + sim.standIn.callCount('secretsmanager.PutSecretValue')).toBe(0);
  });

  it('Create seeds every table of the model: counts in the database and the run history; ciphertexts under the stage key', async () => {
    sim.standIn.resetCalls();
    await deploy();
    const run = await lastRun();
    expect(run.outcome).toBe('succeeded');
    expect(run.seed_summary.counts).toEqual(fx.counts);
    expect(run.seed_summary.rowsWritten).toBe(Object.values(fx.counts).reduce((a, b) => a + b, 0));
    await expectTableCounts(sim.client, fx);
    expect(encrypts()).toBe(fx.encryptsFirstRun);
    await expectCiphertexts(sim.client, fx, sim.keyArn);
    for (const k of await expectGeneratedKeys(sim.client, sm, fx, SECRET_PREFIX)) generated.add(k);
  });

  it('the next deploy writes no row, calls no Encrypt and regenerates no key', async () => {
    const hashes = await Promise.all(fx.generated(SECRET_PREFIX).map((g) => g.stored(sim.client)));
    const before = await writeCounters(sim.client);
    sim.standIn.resetCalls();
    await deploy();
    const after = await writeCounters(sim.client);
    for (const t of [...Object.keys(fx.counts), ...fx.untouched]) expect(after[t], t).toBe(before[t]);
    expect(encrypts()).toBe(0);
    expect((await lastRun()).seed_summary).toMatchObject({ rowsWritten: 0, counts: fx.counts });
    expect(await Promise.all(fx.generated(SECRET_PREFIX).map((g) => g.stored(sim.client)))).toEqual(hashes);
  });

  it(`a new version of one secret: the next deploy re-encrypts only that tenant's value`, async () => {
    const name = fx.bump.secret(STAGE);
    const next = `fake-rotated-NOT-REAL-${fx.name}-${Date.now().toString(36)}`;
    providerValues.push(...(await putSecrets(sm, { [name]: { ...fx.providerSecrets(STAGE)[name], [fx.bump.field]: next } })));
    const before = await fx.ciphertexts(sim.client);
    sim.standIn.resetCalls();
    await deploy();
    expect(encrypts()).toBe(1);
    await expectOnlyBumpedReencrypted(kms, fx, before, await fx.ciphertexts(sim.client), next);
  });

  it(`another tenant's encryption context cannot decrypt a tenant's value`, async () => {
    await expectContextsBound(sim.client, kms, fx, providerValues);
  });

  it('operations reseed with reset recreates one tenant; a protected function refuses it', async () => {
    const { tenant } = fx.reset;
    const id = (await sim.client.query(`SELECT id::text AS id FROM tenants WHERE slug = $1`, [tenant])).rows[0].id;
    const before = await rowsOfOtherTenants(sim.client, fx, id);
    Object.assign(process.env, sim.lambdaEnv(asset, { STAGE: 'prod', PROTECTED_STAGE: 'true' }));
    const refused = await operations({ action: 'reseed', tenant, reset: true, actor: 'test' }, lambdaContext()).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(refused?.message).toMatch(/protected/);
    const r = await operate({ action: 'reseed', tenant, reset: true, actor: 'test' });
    expect(r.ok).toBe(true);
    expect(r.result.seed.reset).toEqual([tenant]);
    expect(r.result.seed.counts).toEqual(fx.counts);
    for (const t of fx.reset.childTables) expect(r.result.seed.tables[t].deleted, `${t} rows of ${tenant} deleted`).toBeGreaterThan(0);
    expect((await sim.client.query(`SELECT id::text AS id FROM tenants WHERE slug = $1`, [tenant])).rows[0].id).toBe(id);
    expect(await rowsOfOtherTenants(sim.client, fx, id)).toEqual(before);
    for (const k of await expectGeneratedKeys(sim.client, sm, fx, SECRET_PREFIX)) generated.add(k);
  });

  it('a value that does not cast to its column fails the deploy naming file:line, table and column; no table changes', async () => {
    const { file, from, to, table, column, model } = fx.badCast;
    try {
      if (model) writeFileSync(join(bundledSeeds(), 'seed.config.yaml'), readFileSync(join(pristineSeeds, 'seed.config.yaml'), 'utf8').replace(model.from, model.to));
      const broken = readFileSync(join(pristineSeeds, file), 'utf8').replace(from, to);
      writeFileSync(join(bundledSeeds(), file), broken);
      const before = await fingerprint(sim.client);
      const runs = await runCount();
      sim.standIn.resetCalls();
      const err = await deployError();
      expect(err, 'the deploy must fail').toBeInstanceOf(Error);
      expect(err!.message).toContain(`${file}:${lineOf(broken, to)}`);
      expect(err!.message).toContain(table);
      expect(err!.message).toContain(column);
      expect(encrypts()).toBe(0);
      expect(withoutRuns(await fingerprint(sim.client))).toEqual(withoutRuns(before));
      if ((await runCount()) > runs) expect((await lastRun()).outcome).toBe('failed');
    } finally {
      rmSync(bundledSeeds(), { recursive: true, force: true });
      cpSync(pristineSeeds, bundledSeeds(), { recursive: true });
    }
  });

  it.each(KINDS)('bad model: $kind fails the deploy naming the file and line; no table changes', async ({ break: breakers }) => {
    try {
      const broken = breakers[fx.name](bundledSeeds());
      const text = readFileSync(join(bundledSeeds(), broken.file), 'utf8');
      const before = await fingerprint(sim.client);
      sim.standIn.resetCalls();
      const err = await deployError();
      expect(err, 'the deploy must fail').toBeInstanceOf(Error);
      expect(err!.message).toMatch(placeOf(broken, text));
      for (const m of broken.mentions) {
        if (typeof m === 'string') expect(err!.message).toContain(m);
        else expect(err!.message).toMatch(m);
      }
      expect(encrypts()).toBe(0);
      expect(withoutRuns(await fingerprint(sim.client))).toEqual(withoutRuns(before));
    } finally {
      rmSync(bundledSeeds(), { recursive: true, force: true });
      cpSync(pristineSeeds, bundledSeeds(), { recursive: true });
    }
  });

  it(`no plaintext (provider values, generated keys) in the database or the functions' logs`, async () => {
    for (const k of await expectGeneratedKeys(sim.client, sm, fx, SECRET_PREFIX)) generated.add(k);
    const needles = [...providerValues, ...Object.values(sim.providerKeys), ...generated];
    expect(await plaintextHits(sim.client, needles)).toEqual([]);
    const logs = output.text();
    expect(logs).toContain('seed');
    for (const n of needles) expect(logs.includes(n), `${n.slice(0, 12)}... logged`).toBe(false);
    for (const t of fx.untouched) expect((await sim.client.query(`SELECT count(*)::int AS n FROM "${t}"`)).rows[0].n, t).toBe(0);
  });
});
