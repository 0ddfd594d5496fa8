/**
 * Seeding per fleet target (issue 13, item 1's "optionally seeds"): with `seedsDir`, the bundled worker
 * seeds each target after its migrations through the same `seed()` as a single database's deploy, with
 * the target's name as its tenants' secret namespace. Template (grants, environment, cdk-nag) and a local
 * run on PostgreSQL with the KMS / Secrets Manager stand-in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as kms from 'aws-cdk-lib/aws-kms';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bootstrapDev } from '../../local/aws-standin/index.ts';
import { MemoryLedger } from '../../functions/core/fleet/memory-ledger.ts';
import { serverUrl } from '../support/db.ts';
import { lambdaContext } from '../handlers/support/lambda.ts';
import { setEnv, startLocalFleet, type LocalFleet, type LocalTarget } from './support/fleet-env.ts';
import { synthFleet, type SynthesizedFleet } from './support/stack.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PREFIX = 'migrator/local/fleet/';
let s: SynthesizedFleet;
let fleet: LocalFleet;
let targets: LocalTarget[];
let restore: () => void;
let bundle: any;

beforeAll(async () => {
  s = synthFleet({ stage: 'local', migrationsDir: join(ROOT, 'migrations'), seedsDir: join(ROOT, 'seeds'), targets: { secretNamePrefix: PREFIX } });
  bundle = await import(join(s.assetDir, 'index.mjs'));
  fleet = await startLocalFleet(serverUrl());
  // The stage's key (alias/migrator-local) and provider secrets, as `npm start` creates them.
  await bootstrapDev(fleet.standIn);
  targets = await fleet.addTargets(PREFIX, 2);
  restore = setEnv(fleet.env({ STAGE: 'local', SEEDS_ENABLED: 'true', SEED_TENANTS: 'all' }));
}, 300_000);
afterAll(async () => {
  restore?.();
  await fleet?.close();
  s?.cleanup();
}, 300_000);

const resources = (type: string) => Object.entries(s.json.Resources as Record<string, any>).filter(([, r]) => r.Type === type);

describe('template', () => {
  it('the worker and the long-running build get the seed environment and grants; the asset carries the seeds; cdk-nag clean', () => {
    expect(s.nagError).toBeUndefined();
    const worker = resources('AWS::Lambda::Function').find(([, r]) => r.Properties.Handler === 'index.fleetWorker')![1];
    expect(worker.Properties.Environment.Variables).toMatchObject({ SEEDS_ENABLED: 'true', SEED_TENANTS: 'all' });
    const [[, project]] = resources('AWS::CodeBuild::Project') as [[string, any]];
    const buildEnv = Object.fromEntries((project.Properties.Environment.EnvironmentVariables as any[]).map((v) => [v.Name, v.Value]));
    expect(buildEnv).toMatchObject({ SEEDS_ENABLED: 'true', SEED_TENANTS: 'all' });
    const sids = (roleRef: string) =>
      resources('AWS::IAM::Policy')
        .filter(([, p]) => p.Properties.Roles.some((r: any) => r.Ref === roleRef))
        .flatMap(([, p]) => p.Properties.PolicyDocument.Statement.map((st: any) => st.Sid))
        .filter(Boolean);
    expect(sids(worker.Properties.Role['Fn::GetAtt'][0])).toEqual(expect.arrayContaining(['WriteTenantSecretsUnderPrefix', 'ReadProviderSecretsUnderPrefix']));
    expect(sids(project.Properties.ServiceRole['Fn::GetAtt'][0])).toEqual(expect.arrayContaining(['WriteTenantSecretsUnderPrefix', 'ReadProviderSecretsUnderPrefix']));
  });
});

describe("the fleet's kms:Encrypt condition follows the seed model", () => {
  it("the ITL fixture's model declares tenantSlug: the worker's and the build's condition list it", () => {
    const itl = join(ROOT, 'test/seed/fixtures/itl');
    const f = synthFleet({ stage: 'local', migrationsDir: join(itl, 'migrations'), seedsDir: join(itl, 'seeds'), targets: { secretNamePrefix: PREFIX } }, undefined, (stack) => ({
      seeding: { encryptionKey: new kms.Key(stack, 'StageKey', { enableKeyRotation: true }) },
    }));
    try {
      const encrypt = Object.values(f.json.Resources as Record<string, any>)
        .filter((r) => r.Type === 'AWS::IAM::Policy')
        .flatMap((p) => p.Properties.PolicyDocument.Statement)
        .filter((st: any) => st.Sid === 'EncryptTenantSecretsWithStageKey');
      expect(encrypt.length).toBe(2);
      for (const st of encrypt) expect(st.Condition['ForAllValues:StringEquals']['kms:EncryptionContextKeys']).toEqual(['tenant', 'tenantSlug', 'purpose']);
    } finally {
      f.cleanup();
    }
  });
});

describe('the bundled worker seeds each target with seed()', () => {
  const exec = 'arn:aws:states:us-east-1:000000000000:execution:Fleet:seed';
  const run = (name: string, t: LocalTarget, ledger = new MemoryLedger()) =>
    bundle.createFleetWorker({ ledger })({ target: { name, secretId: t.secretArn }, executionId: exec, wave: 'rest', trigger: 'deploy' }, lambdaContext({ timeoutMs: 120_000 }));

  it("all of the stage's tenants into every target, each target's API-key secrets under its own namespace, recorded in its run row", async () => {
    for (const t of targets) expect(await run(t.name, t)).toMatchObject({ outcome: 'succeeded' });
    const slugs = [];
    for (const t of targets) {
      const tenants = (await fleet.query(t, 'SELECT slug FROM tenants ORDER BY slug')).map((r) => r.slug);
      expect(tenants.length).toBeGreaterThan(1);
      slugs.push(tenants);
      const keys = await fleet.query(t, 'SELECT k.secret_name, tn.slug FROM tenant_api_keys k JOIN tenants tn ON tn.id = k.tenant_id');
      expect(keys.length).toBeGreaterThan(0);
      for (const k of keys) expect(k.secret_name).toMatch(new RegExp(`/tenants/${t.name}/${k.slug}/api-key$`));
      const [row] = await fleet.query(t, `SELECT outcome, command, seed_summary FROM migration_runs ORDER BY started_at DESC LIMIT 1`);
      expect(row).toMatchObject({ outcome: 'succeeded', command: 'fleet:rest' });
      expect(row.seed_summary).not.toBeNull();
    }
    expect(slugs[0]).toEqual(slugs[1]);
  }, 240_000);

  it("SEED_TENANTS=target: only the tenant named like the target; a target that is no tenant of the stage fails, naming it", async () => {
    const [t] = await fleet.addTargets('migrator/local/one/', 1);
    const restoreTarget = setEnv({ SEED_TENANTS: 'target' });
    try {
      expect(await run('vela', t!)).toMatchObject({ outcome: 'succeeded' });
      expect((await fleet.query(t!, 'SELECT slug FROM tenants')).map((r) => r.slug)).toEqual(['vela']);
      const ledger = new MemoryLedger();
      const e = await run('no-such-tenant', t!, ledger).catch((x: Error) => x);
      expect(e.name).toBe('TargetFailed');
      expect(e.message).toContain('no-such-tenant');
      expect((await ledger.list(exec))[0]).toMatchObject({ outcome: 'failed' });
    } finally {
      restoreTarget();
    }
  }, 240_000);
});
