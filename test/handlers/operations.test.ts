/**
 * On-demand operations end to end: `migrator invoke` (commander + @aws-sdk/client-lambda over HTTP) into a
 * local Lambda Invoke endpoint that runs the bundled `operations` handler from the synthesized asset, against
 * real PostgreSQL and the KMS / Secrets Manager stand-in. A prod function refuses destructive actions.
 */
import { Command, CommanderError } from 'commander';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerInvokeCommands } from '../../bin/commands/invoke.ts';
import { PROJECT_ROOT, type MigratorAsset } from './support/asset.ts';
import { startLocalLambda, type LocalLambda } from './support/lambda-server.ts';
import { captureOutput, type SimEnv } from './support/sim-env.ts';
import { HandlerTestScope } from './support/scope.ts';

type Handler = (event: unknown, context: unknown) => Promise<unknown>;

let asset: MigratorAsset;
let sim: SimEnv;
let lambda: LocalLambda;
let work: string;
let output: ReturnType<typeof captureOutput> | undefined;
const scope = new HandlerTestScope();

const STAGING_FN = 'pg-tenant-migrator-staging-ops';
const PROD_FN = 'prod-ops-under-test';
/** Same code, its database secret missing: every connect fails. */
const BROKEN_FN = 'staging-ops-no-database';

/** Runs `migrator invoke ...` as the CLI would; returns exit code and output. */
async function cli(...args: string[]) {
  let out = '';
  let err = '';
  const program = new Command('migrator').exitOverride().configureOutput({ writeOut: (t) => (out += t), writeErr: (t) => (err += t) });
  registerInvokeCommands(program, { out: (t) => (out += t), err: (t) => (err += t) });
  let code = 0;
  try {
    await program.parseAsync(['node', 'migrator', 'invoke', ...args]);
  } catch (e) {
    if (e instanceof CommanderError) code = e.exitCode === 0 ? 0 : 2;
    else {
      code = 1;
      err += `error: ${(e as Error).message}\n`;
    }
  }
  return { code, out, err, json: () => JSON.parse(out) };
}

const q = (text: string, values?: unknown[]) => sim.client.query(text, values);
const runCount = async () => {
  const { rows } = await q(`SELECT count(*)::int AS n FROM migration_runs`);
  return rows[0].n as number;
};

beforeAll(async () => {
  asset = scope.asset({ migrationsDir: join(PROJECT_ROOT, 'migrations'), seedsDir: join(PROJECT_ROOT, 'seeds') });
  sim = await scope.sim('staging');
  const mod = (await import(/* @vite-ignore */ pathToFileURL(asset.handlerFile).href)) as { operations: Handler };
  lambda = await startLocalLambda({
    [STAGING_FN]: { handler: mod.operations, env: sim.lambdaEnv(asset) },
    // Same code and database, configured as a protected stage: only its own configuration decides.
    [PROD_FN]: { handler: mod.operations, env: sim.lambdaEnv(asset, { STAGE: 'prod', PROTECTED_STAGE: 'true' }) },
    [BROKEN_FN]: { handler: mod.operations, env: sim.lambdaEnv(asset, { DB_SECRET_ARN: 'migrator/staging/db/deleted' }) },
  });
  scope.defer(() => lambda.stop());
  work = scope.work('migrator-invoke-');
  Object.assign(process.env, sim.standIn.clientEnv(), { AWS_ENDPOINT_URL_LAMBDA: lambda.endpoint });
  // The functions' JSON logs and EMF lines; kept to check no secret reaches them.
  output = scope.capture();
}, 180_000);

afterAll(() => scope.close());

describe('migrator invoke -> operations function', () => {
  it('status on a fresh database lists every migration as pending', async () => {
    const r = await cli('status', '--stage', 'staging', '--function-name', STAGING_FN, '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const body = r.json();
    expect(body).toMatchObject({ ok: true, action: 'status', stage: 'staging', function: STAGING_FN, foundBy: '--function-name' });
    expect(body.result.applied).toEqual([]);
    expect(body.result.pending.length).toBeGreaterThan(0);
  });

  it('plan shows the SQL and writes nothing', async () => {
    const r = await cli('plan', '--stage', 'staging', '--function-name', STAGING_FN, '--json');
    expect(r.code).toBe(0);
    expect(r.json().result.pending[0].sql).toMatch(/CREATE TABLE/i);
    const { rows } = await q(`SELECT to_regclass('public.tenants') IS NULL AS none`);
    expect(rows[0].none).toBe(true);
  });

  it('migrate applies, seed seeds, runs shows both in the audit trail', async () => {
    const m = await cli('migrate', '--stage', 'staging', '--function-name', STAGING_FN, '--json', '--actor', 'alice');
    expect(m.code).toBe(0);
    expect(m.json().result.applied.length).toBeGreaterThan(0);
    const s = await cli('seed', '--stage', 'staging', '--function-name', STAGING_FN, '--json', '--actor', 'alice');
    expect(s.code).toBe(0);
    expect(s.json().result.seed.rowsWritten).toBeGreaterThan(0);
    const { rows } = await q('SELECT count(*)::int AS n FROM tenants');
    expect(rows[0].n).toBeGreaterThanOrEqual(3);
    const runs = await cli('runs', '--stage', 'staging', '--function-name', STAGING_FN, '--limit', '5', '--json');
    expect(runs.code).toBe(0);
    const list = runs.json().result as Array<{ trigger: string; actor: string; outcome: string; command: string }>;
    expect(list.map((r) => r.command)).toEqual(['invoke:seed', 'invoke:migrate']);
    for (const r of list) expect(r).toMatchObject({ trigger: 'invoke', actor: 'invoke:alice', outcome: 'succeeded' });
  });

  it('reseed --reset works on staging for the named tenant', async () => {
    const r = await cli('reseed', '--stage', 'staging', '--function-name', STAGING_FN, '--tenant', 'etms', '--reset', '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.json().result.seed.reset).toEqual(['etms']);
  });

  it('a protected stage refuses reseed, --reset and down whoever asks, and changes nothing', async () => {
    const before = { runs: await runCount(), users: (await q('SELECT count(*)::int AS n FROM users')).rows[0].n };
    const reseed = await cli('reseed', '--stage', 'prod', '--function-name', PROD_FN, '--tenant', 'etms');
    expect(reseed.code).toBe(1);
    expect(reseed.err).toMatch(/protected: reseed is refused/);
    const reset = await cli('reseed', '--stage', 'prod', '--function-name', PROD_FN, '--tenant', 'etms', '--reset');
    expect(reset.code).toBe(1);
    expect(reset.err).toMatch(/protected: reset is refused/);
    // Raw payloads (as with `aws lambda invoke`) get the same answer.
    const { LambdaClient, InvokeCommand } = await import('@aws-sdk/client-lambda');
    const client = new LambdaClient({});
    for (const payload of [{ action: 'down' }, { action: 'reseed', tenant: 'vela', actor: 'mallory' }]) {
      const out = await client.send(new InvokeCommand({ FunctionName: PROD_FN, Payload: Buffer.from(JSON.stringify(payload)) }));
      expect(out.FunctionError).toBe('Unhandled');
      expect(JSON.parse(Buffer.from(out.Payload!).toString()).errorMessage).toMatch(/protected/);
    }
    client.destroy();
    expect(await runCount()).toBe(before.runs);
    expect((await q('SELECT count(*)::int AS n FROM users')).rows[0].n).toBe(before.users);
    // Forward operations still work there.
    const status = await cli('status', '--stage', 'prod', '--function-name', PROD_FN, '--json');
    expect(status.code).toBe(0);
    expect(status.json().result.pending).toEqual([]);
  });

  it('finds the function from the cdk outputs file, or by the conventional name', async () => {
    const outputs = join(work, 'cdk-outputs.json');
    writeFileSync(outputs, JSON.stringify({ 'PgTenantMigrator-prod': { MigrationsOperationsFunctionNameD2C7D405: PROD_FN, MigrationsLogGroupName6EAD6D59: 'x' } }));
    const viaOutputs = await cli('status', '--stage', 'prod', '--outputs-file', outputs, '--json');
    expect(viaOutputs.code).toBe(0);
    expect(viaOutputs.json()).toMatchObject({ function: PROD_FN, stage: 'prod' });
    const conventional = await cli('status', '--stage', 'staging', '--outputs-file', join(work, 'none.json'), '--json');
    expect(conventional.code).toBe(0);
    expect(conventional.json()).toMatchObject({ function: STAGING_FN, foundBy: 'conventional name' });
  });

  it('fails clearly: unknown action (usage, exit 2), wrong stage for the function, unknown function, bad payload', async () => {
    expect((await cli('frobnicate', '--stage', 'staging')).code).toBe(2);
    expect((await cli('runs', '--stage', 'staging', '--limit', '0')).code).toBe(2);
    const wrongStage = await cli('status', '--stage', 'staging', '--function-name', PROD_FN);
    expect(wrongStage.code).toBe(1);
    expect(wrongStage.err).toMatch(/serves stage "prod", not "staging"/);
    const missing = await cli('status', '--stage', 'staging', '--function-name', 'no-such-function');
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/no-such-function.*(ResourceNotFound|not found)/i);
    const reseedWithoutTenant = await cli('reseed', '--stage', 'staging', '--function-name', STAGING_FN);
    expect(reseedWithoutTenant.code).toBe(1);
    expect(reseedWithoutTenant.err).toMatch(/reseed needs "tenant"/);
    const { LambdaClient, InvokeCommand } = await import('@aws-sdk/client-lambda');
    const client = new LambdaClient({});
    const out = await client.send(new InvokeCommand({ FunctionName: STAGING_FN, Payload: Buffer.from(JSON.stringify({ action: 'status', limit: 'x', extra: 1 })) }));
    client.destroy();
    const msg = JSON.parse(Buffer.from(out.Payload!).toString()).errorMessage as string;
    expect(msg).toMatch(/Invalid operations payload/);
    expect(msg).toMatch(/limit/);
    expect(msg).toMatch(/extra/);
  });

  it('a migrate whose connection fails is a failed run: readable error, Failures metric, the same run id logged', async () => {
    const emfBefore = output!.lines().filter((l) => l.includes('"_aws"')).length;
    const r = await cli('migrate', '--stage', 'staging', '--function-name', BROKEN_FN, '--json');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/Could not read the database secret migrator\/staging\/db\/deleted: ResourceNotFoundException/);
    const emf = output!.lines().filter((l) => l.includes('"_aws"')).slice(emfBefore).map((l) => JSON.parse(l));
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({ Failures: 1, Runs: 1, stage: 'staging' });
    const failed = output!.lines().filter((l) => l.includes('"operation failed"')).map((l) => JSON.parse(l)).at(-1);
    expect(failed).toMatchObject({ level: 'ERROR', outcome: 'failed', action: 'migrate' });
    // A warm container never carries the last run's id: each invocation's lines have their own.
    const ids = new Set(output!.lines().filter((l) => l.includes('"trigger":"invoke"')).map((l) => JSON.parse(l).runId));
    expect(ids.size).toBeGreaterThan(3);
  });

  it('logged no secret value', () => {
    const logs = output!.text();
    expect(logs).toMatch(/"trigger":"invoke"/);
    expect(logs).not.toContain(sim.password);
    for (const k of Object.values(sim.providerKeys)) expect(logs).not.toContain(k);
  });
});
