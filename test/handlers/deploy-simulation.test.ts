/**
 * Deploy simulation: the migrator's real bundled asset from `cdk synth`, imported as Lambda would import it,
 * driven with CloudFormation-shaped events through a stack's life (Create, a retried Create, Update with new
 * content, a failing Update and the rollback Update CloudFormation sends after it, Delete) against real
 * PostgreSQL and the local KMS / Secrets Manager stand-in. The database credentials come from an RDS-shaped
 * secret in the stand-in; TLS is off (DB_TLS=off) because the local PostgreSQL serves plain TCP.
 */
import { cpSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shipped } from '../../infra/content-hash.ts';
import { PROJECT_ROOT, type MigratorAsset } from './support/asset.ts';
import { createEvent, deleteEvent, lambdaContext, SIM_STACK_ID, updateEvent } from './support/lambda.ts';
import { captureOutput, type SimEnv } from './support/sim-env.ts';
import { HandlerTestScope } from './support/scope.ts';

type Handler = (event: unknown, context: unknown) => Promise<{ PhysicalResourceId: string; Data: Record<string, string> }>;
const importBundle = (url: string) => import(/* @vite-ignore */ url) as Promise<{ onEvent: Handler; operations: Handler }>;

const FEATURE = '9001_sim_feature';
const BROKEN = '9002_sim_broken';

let work: string;
let sim: SimEnv;
let assets: { a: MigratorAsset; b: MigratorAsset; c: MigratorAsset };
let handlers: { a: Handler; b: Handler; c: Handler };
let output: ReturnType<typeof captureOutput>;
const scope = new HandlerTestScope();

function folder(name: string, extra: Record<string, string>): string {
  const dir = join(work, name);
  cpSync(join(PROJECT_ROOT, 'migrations'), dir, { recursive: true, filter: (s) => !s.includes('/.compiled') });
  for (const [file, text] of Object.entries(extra)) writeFileSync(join(dir, file), text);
  return dir;
}

async function invoke(which: 'a' | 'b' | 'c', event: unknown) {
  Object.assign(process.env, sim.lambdaEnv(assets[which]));
  return handlers[which](event, lambdaContext());
}

const q = (text: string, values?: unknown[]) => sim.client.query(text, values);
async function appliedMigrations(): Promise<string[]> {
  const { rows } = await q('SELECT name FROM public.pgmigrations ORDER BY run_on, id');
  return rows.map((r) => r.name);
}
async function runs() {
  const { rows } = await q('SELECT trigger, actor, command, outcome, error, migrations_applied FROM public.migration_runs ORDER BY started_at');
  return rows;
}
async function tableExists(name: string) {
  const { rows } = await q('SELECT to_regclass($1) IS NOT NULL AS ok', [`public.${name}`]);
  return rows[0].ok as boolean;
}
async function rowCounts() {
  const { rows } = await q(
    `SELECT (SELECT count(*) FROM tenants)::int AS tenants, (SELECT count(*) FROM users)::int AS users,
            (SELECT count(*) FROM tenant_llm_settings)::int AS llm, (SELECT count(*) FROM tenant_api_keys)::int AS keys`,
  );
  return rows[0];
}

beforeAll(async () => {
  work = scope.work('migrator-sim-');
  const migrationsA = folder('a', {});
  const feature = '-- Up Migration\nCREATE TABLE sim_feature (id int PRIMARY KEY, note text);\n-- Down Migration\nDROP TABLE sim_feature;\n';
  const migrationsB = folder('b', { [`${FEATURE}.sql`]: feature });
  const migrationsC = folder('c', {
    [`${FEATURE}.sql`]: feature,
    [`${BROKEN}.sql`]: '-- Up Migration\nCREATE TABLE sim_broken (id int);\nSELECT 1 / 0;\n-- Down Migration\nDROP TABLE sim_broken;\n',
  });
  const seedsDir = join(PROJECT_ROOT, 'seeds');
  assets = {
    a: scope.asset({ migrationsDir: migrationsA, seedsDir }),
    b: scope.asset({ migrationsDir: migrationsB, seedsDir }),
    c: scope.asset({ migrationsDir: migrationsC, seedsDir }),
  };
  sim = await scope.sim('staging');
  const load = async (a: MigratorAsset) => (await importBundle(pathToFileURL(a.handlerFile).href)).onEvent;
  handlers = { a: await load(assets.a), b: await load(assets.b), c: await load(assets.c) };
  // Everything the function writes (Powertools JSON logs, EMF metrics) is kept for assertions.
  output = scope.capture();
}, 180_000);

afterAll(() => scope.close());

describe('deploy simulation on the bundled asset', () => {
  let physicalId: string;

  it('bundles every migration and seed file it was given', () => {
    for (const [asset, extra] of [[assets.a, []], [assets.b, [FEATURE]], [assets.c, [FEATURE, BROKEN]]] as const) {
      const manifest = JSON.parse(readFileSync(join(asset.dir, 'asset-manifest.json'), 'utf8'));
      const expected = [...readdirSync(join(PROJECT_ROOT, 'migrations')).filter(shipped), ...extra.map((n) => `${n}.sql`)].sort();
      expect(manifest.migrations).toEqual(expected);
      expect(readdirSync(join(asset.dir, 'migrations')).filter((f) => !f.startsWith('.')).sort()).toEqual(expected);
      expect(manifest.contentHash).toBe(asset.properties.ContentHash);
      const seedFiles = readdirSync(join(PROJECT_ROOT, 'seeds', 'tenants'));
      for (const f of seedFiles) expect(manifest.seeds).toContain(`tenants/${f}`);
    }
  });

  it('Create: validates, migrates up and seeds; small Data; one deploy run recorded', async () => {
    const res = await invoke('a', createEvent(assets.a.properties));
    physicalId = res.PhysicalResourceId;
    expect(physicalId).toBe(`db-migrations:staging:${assets.a.properties.ResourceName}`);
    const manifest = JSON.parse(readFileSync(join(assets.a.dir, 'asset-manifest.json'), 'utf8'));
    const names = (manifest.migrations as string[]).map((f) => f.replace(/\.(sql|ts)$/, ''));
    // Every file loaded and applied, TypeScript ones through their precompiled .mjs.
    expect(await appliedMigrations()).toEqual(names);
    expect(res.Data.AppliedCount).toBe(String(names.length));
    expect(res.Data.LastMigration).toBe(names.at(-1));
    expect(res.Data.RunId).toMatch(/^[0-9a-f-]{36}$/);
    expect(Buffer.byteLength(JSON.stringify(res))).toBeLessThan(512);

    const slugs = readdirSync(join(PROJECT_ROOT, 'seeds', 'tenants')).map((f) => f.replace(/\.ya?ml$/, '')).sort();
    const { rows: tenants } = await q('SELECT slug FROM tenants ORDER BY slug');
    expect(tenants.map((t) => t.slug)).toEqual(slugs);
    const { rows: llm } = await q('SELECT api_key_ciphertext, api_key_kms_key_arn FROM tenant_llm_settings');
    expect(llm.length).toBeGreaterThan(0);
    for (const r of llm) {
      expect(r.api_key_ciphertext).toBeInstanceOf(Buffer);
      expect(r.api_key_kms_key_arn).toBe(sim.keyArn);
      for (const k of Object.values(sim.providerKeys)) expect(r.api_key_ciphertext.toString('latin1')).not.toContain(k);
    }
    const r = await runs();
    expect(r).toHaveLength(1);
    expect(r[0]).toMatchObject({ trigger: 'deploy', outcome: 'succeeded', actor: `cloudformation:${assets.a.properties.ResourceName}` });
    expect(r[0].command).toContain(`content=${assets.a.properties.ContentHash}`);
  });

  it('a retried Create is harmless: nothing applied, no row changed', async () => {
    const before = await rowCounts();
    const res = await invoke('a', createEvent(assets.a.properties));
    expect(res.PhysicalResourceId).toBe(physicalId);
    expect(res.Data.AppliedCount).toBe('0');
    expect(await rowCounts()).toEqual(before);
    expect((await runs()).map((r) => r.outcome)).toEqual(['succeeded', 'succeeded']);
  });

  it('Update with changed content applies only the new migration', async () => {
    expect(assets.b.properties.ContentHash).not.toBe(assets.a.properties.ContentHash);
    const res = await invoke('b', updateEvent(physicalId, assets.b.properties, assets.a.properties));
    expect(res.PhysicalResourceId).toBe(physicalId);
    expect(res.Data).toMatchObject({ AppliedCount: '1', LastMigration: FEATURE });
    expect(await tableExists('sim_feature')).toBe(true);
  });

  it('a failing Update throws a short reason naming the migration, the PostgreSQL error and the log stream', async () => {
    const before = await appliedMigrations();
    Object.assign(process.env, sim.lambdaEnv(assets.c));
    const context = lambdaContext();
    const error = await handlers.c(updateEvent(physicalId, assets.c.properties, assets.b.properties), context).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(Error);
    const message = error!.message;
    expect(message).toContain(BROKEN);
    expect(message).toContain('division by zero');
    expect(message).toContain(context.logStreamName);
    expect(Buffer.byteLength(message)).toBeLessThanOrEqual(1024);
    // The Provider framework copies the stack into the Reason: it is the message alone.
    expect(error!.stack).toBe(message);
    // Nothing of the broken migration remains; what was applied stays.
    expect(await tableExists('sim_broken')).toBe(false);
    expect(await appliedMigrations()).toEqual(before);
    const last = (await runs()).at(-1);
    expect(last).toMatchObject({ outcome: 'failed' });
    expect(last.error).toContain('division by zero');
    // The failure is counted for the alarm (EMF record with Failures = 1).
    const emf = output.lines().filter((l) => l.includes('"_aws"')).map((l) => JSON.parse(l));
    expect(emf.at(-1)).toMatchObject({ Failures: 1, Runs: 1, stage: 'staging', service: 'migrator' });
  });

  it('the rollback Update (old and new properties swapped) is skipped: no down migration, nothing destroyed', async () => {
    const before = { applied: await appliedMigrations(), counts: await rowCounts(), runs: (await runs()).length };
    const rollback = updateEvent(physicalId, assets.b.properties, assets.c.properties);
    // The stack's own status says it is rolling back (DescribeStacks, over the wire to the local endpoint).
    sim.cloudFormation.setStatus(SIM_STACK_ID, 'UPDATE_ROLLBACK_IN_PROGRESS');
    const callsBefore = sim.cloudFormation.calls.length;
    try {
      // CloudFormation may roll the custom resource back before or after the function's code: both are skipped.
      for (const which of ['c', 'b'] as const) {
        const res = await invoke(which, rollback);
        expect(res.PhysicalResourceId).toBe(physicalId);
        expect(res.Data).toMatchObject({ Skipped: 'rollback', AppliedCount: '0', LastMigration: FEATURE });
        expect(res.Data.DatabaseReached).toBeUndefined();
      }
    } finally {
      sim.cloudFormation.setStatus(SIM_STACK_ID, 'UPDATE_IN_PROGRESS');
    }
    expect(sim.cloudFormation.calls.slice(callsBefore)).toEqual([SIM_STACK_ID, SIM_STACK_ID]);
    expect(await appliedMigrations()).toEqual(before.applied);
    expect(await tableExists('sim_feature')).toBe(true);
    expect(await rowCounts()).toEqual(before.counts);
    expect((await runs()).length).toBe(before.runs);
    const skipped = output.lines().filter((l) => l.includes('rollback update: skipped'));
    expect(skipped.length).toBe(2);
    expect(JSON.parse(skipped[0]!)).toMatchObject({ level: 'WARN', outcome: 'skipped', trigger: 'deploy', stage: 'staging' });
  });

  it('a rollback Update while the database cannot be reached succeeds with a warning; the next deploy migrates', async () => {
    const before = { applied: await appliedMigrations(), runs: (await runs()).length };
    // The database is gone (outage, security group change): its secret now points at a port nobody listens on.
    const closed = createServer((socket) => socket.destroy());
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await sim.putSecret(JSON.stringify({ host: '127.0.0.1', port, username: sim.role, password: sim.password, dbname: sim.db.name }));
    // The forward Update fails on the database ...
    sim.cloudFormation.setStatus(SIM_STACK_ID, 'UPDATE_IN_PROGRESS');
    const forward = await invoke('c', updateEvent(physicalId, assets.c.properties, assets.b.properties)).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(forward?.message).toMatch(new RegExp(`Could not connect to PostgreSQL at 127.0.0.1:${port}/`));
    // ... and CloudFormation sends the rollback Update (properties swapped) while the stack is rolling back.
    sim.cloudFormation.setStatus(SIM_STACK_ID, 'UPDATE_ROLLBACK_IN_PROGRESS');
    try {
      for (const which of ['c', 'b'] as const) {
        const res = await invoke(which, updateEvent(physicalId, assets.b.properties, assets.c.properties));
        expect(res.PhysicalResourceId).toBe(physicalId);
        // LastMigration is the last-known value: the newest migration of the content rolled back to.
        expect(res.Data).toMatchObject({ Skipped: 'rollback', AppliedCount: '0', LastMigration: FEATURE, DatabaseReached: 'false' });
      }
    } finally {
      sim.cloudFormation.setStatus(SIM_STACK_ID, 'UPDATE_IN_PROGRESS');
      await sim.rotatePassword(sim.password); // the database is back
      await new Promise((r) => closed.close(r));
    }
    const warned = output.lines().filter((l) => l.includes('rollback update: skipped without the database'));
    expect(warned).toHaveLength(2);
    expect(JSON.parse(warned[0]!)).toMatchObject({ level: 'WARN', outcome: 'skipped', lastMigration: FEATURE });
    expect(JSON.parse(warned[0]!).databaseError).toContain(`127.0.0.1:${port}`);
    expect(await appliedMigrations()).toEqual(before.applied);
    // The failed forward attempt could not record a run (no database); the rollbacks record none either.
    expect((await runs()).length).toBe(before.runs);
    // The next deploy still migrates.
    const next = { ...assets.b.properties, DeployNonce: new Date(Date.now() + 30_000).toISOString() };
    const res = await invoke('b', updateEvent(physicalId, next, assets.b.properties));
    expect(res.Data.Skipped).toBeUndefined();
    expect(res.Data.LastMigration).toBe(FEATURE);
    expect((await runs()).at(-1)).toMatchObject({ outcome: 'succeeded' });
  });

  it('a forward Update is never skipped, even when its properties look like a rollback (an older assembly redeployed)', async () => {
    // Properties swapped exactly as a rollback would send them, but the stack is updating forward: it runs.
    const runsBefore = (await runs()).length;
    const res = await invoke('b', updateEvent(physicalId, assets.b.properties, assets.c.properties));
    expect(res.Data.Skipped).toBeUndefined();
    expect(res.Data.RunId).toMatch(/^[0-9a-f-]{36}$/);
    expect((await runs()).length).toBe(runsBefore + 1);
    expect((await runs()).at(-1)).toMatchObject({ outcome: 'succeeded', trigger: 'deploy' });
  });

  it('Delete drops nothing and keeps the physical id', async () => {
    const before = { applied: await appliedMigrations(), counts: await rowCounts() };
    const res = await invoke('b', deleteEvent(physicalId, assets.b.properties));
    expect(res.PhysicalResourceId).toBe(physicalId);
    expect(await appliedMigrations()).toEqual(before.applied);
    expect(await rowCounts()).toEqual(before.counts);
    expect(await tableExists('tenants')).toBe(true);
  });

  it('never logged a secret: not the database password, not a provider key', () => {
    const logs = output.text();
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).not.toContain(sim.password);
    for (const k of Object.values(sim.providerKeys)) expect(logs).not.toContain(k);
    expect(logs).not.toContain(sim.standIn.credentials.secretAccessKey);
  });
});
