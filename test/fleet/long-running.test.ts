/**
 * Long-running migrations on the fleet (issue 13, item 5), without Step Functions or CodeBuild:
 * - the synthesized state machine (asl-validator): each Map item routes a `long-running` worker result
 *   through a Choice to `codebuild:startBuild.sync`; its IAM; the CodeBuild project (S3 source = the staged
 *   asset, a managed image, the buildspec); cdk-nag clean;
 * - the marker (`-- migrator:long-running`, `export const longRunning = true`) through the real launcher
 *   (`plan --json`) and through the bundled worker; a run that does not fit (out of the invocation's time
 *   in a transactional migration) handed over too;
 * - the buildspec's build commands run exactly as written, in a copy of the staged asset, with the
 *   environment the project sets plus the state machine's overrides, against real PostgreSQL: the migration
 *   lock and the deadlines hold;
 * - the deploy's wait ending while a target is still migrating in CodeBuild: the bundled isComplete through
 *   a real SFN client (local DescribeExecution endpoint), the ledger row, and the next deploy (refused by the
 *   target's lock, saying so; a no-op once the build finished).
 *
 * One deviation from the cloud: DB_TLS is `off` for the builds (the local server has no TLS), so the
 * install phase (Node 22 and the CA bundle download) is not run; the build phase is.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import aslValidator from 'asl-validator';
import pg from 'pg';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatabaseFleetMigrations } from '../../infra/fleet/database-fleet-migrations.ts';
import { DynamoDbLedger } from '../../functions/core/fleet/dynamodb-ledger.ts';
import { migrationLockHolders } from '../../functions/core/migrate/lock-holder.ts';
import { tablesOf } from '../../functions/core/migrate/state.ts';
import { createTestDatabase, serverUrl } from '../support/db.ts';
import { run } from '../cli/helpers.ts';
import { lambdaContext } from '../handlers/support/lambda.ts';
import { startAwsJsonStandIn, type AwsJsonStandIn } from './support/aws-json-standin.ts';
import { runFleetExecution } from './support/driver.ts';
import { setEnv, startLocalFleet, type LocalFleet, type LocalTarget } from './support/fleet-env.ts';
import { synthFleet, type SynthesizedFleet } from './support/stack.ts';

const LONG = fileURLToPath(new URL('./fixtures/long-migrations', import.meta.url));
const MODULE = fileURLToPath(new URL('./fixtures/long-module', import.meta.url));
const PREFIX = 'migrator/staging/fleet/';
const BACKFILL = '0002_backfill_item_search';

let s: SynthesizedFleet;
let off: SynthesizedFleet;
let slow: SynthesizedFleet;
const SLOW = fileURLToPath(new URL('./fixtures/slow-migrations', import.meta.url));

beforeAll(() => {
  s = synthFleet({ migrationsDir: LONG, longRunning: { timeout: Duration.hours(2) } });
  slow = synthFleet({ migrationsDir: SLOW });
  // One database, the way the README gives for a single database with long migrations, here without the
  // runner (longRunning: false) and with a TypeScript migration marked long-running.
  off = synthFleet({ migrationsDir: MODULE, longRunning: false, canary: { count: 0 } }, undefined, (stack: Stack) => ({
    targets: { static: [{ name: 'main', secret: mainSecret(stack) }] },
  }));
}, 300_000);
afterAll(() => {
  s?.cleanup();
  off?.cleanup();
  slow?.cleanup();
});

function mainSecret(stack: Stack) {
  const secret = new secretsmanager.Secret(stack, 'MainSecret');
  Validations.of(secret).acknowledge({ id: 'AwsSolutions-SMG4', reason: "The test's database secret (rotation is the application's)." });
  return secret;
}

const resources = (f: SynthesizedFleet, type: string) => Object.entries(f.json.Resources as Record<string, any>).filter(([, r]) => r.Type === type);
const projectOf = (f: SynthesizedFleet) => resources(f, 'AWS::CodeBuild::Project') as [string, any][] & [[string, any]];

describe('state machine and CodeBuild project (template, asl-validator, cdk-nag)', () => {
  it('is valid ASL, and each wave routes a long-running target from the Lambda worker to codebuild:startBuild.sync inside its Map item', () => {
    const r = aslValidator(s.asl);
    expect(r.errors).toEqual([]);
    expect(r.isValid).toBe(true);
    const [[projectId]] = projectOf(s);
    for (const [wave, prefix] of [['CanaryWave', 'MigrateCanaryTarget'], ['RestWave', 'MigrateTarget']] as const) {
      const p = s.asl.States[wave].ItemProcessor;
      expect(p.StartAt).toBe(prefix);
      expect(p.States[prefix]).toMatchObject({ Type: 'Task', ResultPath: '$.worker', ResultSelector: { 'outcome.$': '$.outcome' }, Next: `${prefix}LongRunning?` });
      expect(p.States[`${prefix}LongRunning?`]).toMatchObject({
        Type: 'Choice',
        Choices: [{ Variable: '$.worker.outcome', StringEquals: 'long-running', Next: `${prefix}InCodeBuild` }],
        Default: `${prefix}Done`,
      });
      expect(p.States[`${prefix}Done`]).toMatchObject({ Type: 'Succeed' });
      const build = p.States[`${prefix}InCodeBuild`];
      // RUN_JOB: the .sync integration waits for the build and fails the item when the build fails.
      expect(build.Resource).toMatch(/:states:::codebuild:startBuild\.sync$/);
      expect(build.End).toBe(true);
      expect(build.ResultPath).toBeNull();
      expect(build.Catch).toBeUndefined(); // a failed build fails the Map item: the tolerance counts it
      expect(build.Parameters.ProjectName).toContain(projectId.replace(/[^A-Za-z0-9]/g, ''));
      expect(build.Parameters.EnvironmentVariablesOverride).toEqual(
        [['TARGET_NAME', '$.target.name'], ['TARGET_SECRET_ID', '$.target.secretId'], ['EXECUTION_ID', '$.executionId'], ['WAVE', '$.wave'], ['TRIGGER', '$.trigger']].map(([Name, v]) => ({ Name, Type: 'PLAINTEXT', 'Value.$': v })),
      );
      expect(build.Retry).toEqual([{ ErrorEquals: ['CodeBuild.AccountLimitExceededException'], IntervalSeconds: 30, MaxAttempts: 10, BackoffRate: 2, MaxDelaySeconds: 300, JitterStrategy: 'FULL' }]);
    }
  });

  it('the state machine may start, stop and watch builds of that project only, and manage the rule .sync uses', () => {
    const [[projectId]] = projectOf(s);
    const statements = resources(s, 'AWS::IAM::Policy')
      .filter(([id]) => id.startsWith('FleetStateMachineRole'))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as any[]);
    const codebuild = statements.filter((st) => [st.Action].flat().some((a: string) => a.startsWith('codebuild:')));
    expect(codebuild).toEqual([
      { Action: ['codebuild:StartBuild', 'codebuild:StopBuild', 'codebuild:BatchGetBuilds', 'codebuild:BatchGetReports'], Effect: 'Allow', Resource: { 'Fn::GetAtt': [projectId, 'Arn'] } },
    ]);
    const events = statements.filter((st) => [st.Action].flat().some((a: string) => a.startsWith('events:')));
    expect(events).toHaveLength(1);
    expect(events[0].Action).toEqual(['events:PutTargets', 'events:PutRule', 'events:DescribeRule']);
    expect(JSON.stringify(events[0].Resource)).toContain(':rule/StepFunctionsGetEventForCodeBuildStartBuildRule');
  });

  it('the project: the staged asset as S3 source (no image to build), a managed Node 22 image, `node build.mjs up`, the worker network, the deadlines', () => {
    const [[, project], more] = projectOf(s);
    expect(more).toBeUndefined();
    const p = project.Properties;
    const worker = resources(s, 'AWS::Lambda::Function').find(([, r]) => r.Properties.Handler === 'index.fleetWorker')![1];
    // The very asset the functions run (same content hash), so the build runs the same code and migrations.
    expect(p.Source.Type).toBe('S3');
    expect(JSON.stringify(p.Source.Location)).toContain(worker.Properties.Code.S3Key);
    expect(p.Environment).toMatchObject({ Image: 'aws/codebuild/amazonlinux-x86_64-standard:5.0', ImagePullCredentialsType: 'CODEBUILD', PrivilegedMode: false, Type: 'LINUX_CONTAINER', ComputeType: 'BUILD_GENERAL1_SMALL' });
    const spec = JSON.parse(p.Source.BuildSpec);
    expect(spec.phases.install['runtime-versions']).toEqual({ nodejs: 22 });
    expect(spec.phases.build.commands).toEqual(['node build.mjs up']);
    expect(p.TimeoutInMinutes).toBe(120);
    expect(p.Artifacts).toEqual({ Type: 'NO_ARTIFACTS' });
    expect(p.VpcConfig.SecurityGroupIds).toEqual(worker.Properties.VpcConfig.SecurityGroupIds);
    expect(p.VpcConfig.Subnets).toEqual(worker.Properties.VpcConfig.SubnetIds);
    const env = Object.fromEntries((p.Environment.EnvironmentVariables as any[]).map((v) => [v.Name, v.Value]));
    // The worker's lock deadlines; the budget is the build's timeout minus 5 minutes, not an invocation's.
    expect(env).toMatchObject({ DB_TLS: 'verify-full', LOCK_WAIT_TIMEOUT_MS: '120000', LOCK_TIMEOUT_MS: '10000', CONNECT_TIMEOUT_MS: '60000', BUILD_BUDGET_MS: String(115 * 60_000), STATEMENT_TIMEOUT_MS: String(115 * 60_000) });
    expect(env.LEDGER_TABLE).toEqual({ Ref: expect.stringMatching(/^FleetLedger/) });
    expect(Object.values(env).join(' ')).not.toMatch(/password/i);
    expect(worker.Properties.Environment.Variables.LONG_RUNNING).toBe('codebuild');
  });

  it('the build role reads the target secrets and writes the ledger, like the worker', () => {
    const [[projectId, project]] = projectOf(s);
    const roleId = project.Properties.ServiceRole['Fn::GetAtt'][0];
    const statements = resources(s, 'AWS::IAM::Policy')
      .filter(([, p]) => p.Properties.Roles.some((r: any) => r.Ref === roleId))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as any[]);
    const secrets = statements.find((st) => st.Action === 'secretsmanager:GetSecretValue');
    expect(JSON.stringify(secrets.Resource)).toContain(`:secret:${PREFIX}*`);
    expect(statements.find((st) => [st.Action].flat().includes('dynamodb:PutItem')).Resource).toEqual([{ 'Fn::GetAtt': [expect.stringMatching(/^FleetLedger/), 'Arn'] }]);
    expect(projectId).toMatch(/^FleetLongRunning/);
  });

  it('synthesizes clean under cdk-nag, with and without the runner', () => {
    expect(s.nagError).toBeUndefined();
    expect(off.nagError).toBeUndefined();
  });

  it('longRunning: false has no project and no Choice; the worker is told (LONG_RUNNING=off)', () => {
    expect(projectOf(off)).toEqual([]);
    expect(aslValidator(off.asl).isValid).toBe(true);
    const p = off.asl.States.RestWave.ItemProcessor;
    expect(Object.keys(p.States)).toEqual(['MigrateTarget']);
    expect(p.States.MigrateTarget.End).toBe(true);
    const worker = resources(off, 'AWS::Lambda::Function').find(([, r]) => r.Properties.Handler === 'index.fleetWorker')![1];
    expect(worker.Properties.Environment.Variables.LONG_RUNNING).toBe('off');
  });

  it('refuses a build timeout CodeBuild cannot take and a statement timeout longer than the build', () => {
    const make = (longRunning: object) => () => {
      const stack = new Stack();
      new DatabaseFleetMigrations(stack, 'Fleet', { stage: 'staging', migrationsDir: LONG, vpc: new ec2.Vpc(stack, 'Vpc'), targets: { secretNamePrefix: PREFIX }, longRunning });
    };
    expect(make({ timeout: Duration.minutes(10) })).toThrow(/longRunning\.timeout is 10 min; it must be whole minutes from 20 to 2160/);
    expect(make({ timeout: Duration.hours(1), statementTimeout: Duration.hours(2) })).toThrow(/longRunning\.statementTimeout \(7200 s\) must fit in the build's budget \(3300 s/);
    expect(make({ timeout: Duration.hours(30) })).toThrow(/longRunning\.timeout \(1800 min\) must be shorter than executionTimeout \(1440 min\)/);
  });
});

describe('the marker through the real launcher (plan --json)', () => {
  it('a SQL marker line and a TypeScript `export const longRunning = true` are reported per pending migration', async () => {
    for (const [dir, expected] of [[LONG, [['0001_tenant_items', false], [BACKFILL, true]]], [MODULE, [['0001_items', false], ['0002_index_items', true]]]] as const) {
      const db = await createTestDatabase('lrplan');
      try {
        const r = await run(['plan', '--json', '--quiet', '--dir', dir, '--database-url', db.url]);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        expect((JSON.parse(r.stdout).pending as any[]).map((m) => [m.name, m.longRunning])).toEqual(expected);
        const text = await run(['plan', '--quiet', '--dir', dir, '--database-url', db.url]);
        expect(text.stdout).toContain(`-- ${expected[1][0]} (`);
        expect(text.stdout).toMatch(/long-running \(a fleet runs it in CodeBuild\)/);
      } finally {
        await db.drop();
      }
    }
  }, 120_000);
});

describe('runners on PostgreSQL: the bundled worker, the buildspec commands, the wait ending while a build migrates', () => {
  const SM = 'arn:aws:states:us-east-1:000000000000:stateMachine:Fleet';
  const LEDGER = 'fleet-ledger';
  let aws: AwsJsonStandIn;
  let fleet: LocalFleet;
  let targets: LocalTarget[];
  let restore: () => void;
  let bundle: any;
  let assetCopy: string;
  let ledger: DynamoDbLedger;
  let buildCount = 0;
  let clock = Date.parse('2026-12-01T10:00:00Z');

  /** What the real SDK clients of the worker, the builds and the deploy handler talk to. */
  const awsEnv = () => ({ ...fleet.env({ LEDGER_TABLE: LEDGER, TARGET_SECRET_PREFIX: PREFIX }), AWS_ENDPOINT_URL_DYNAMODB: aws.endpoint, AWS_ENDPOINT_URL_SFN: aws.endpoint, STATE_MACHINE_ARN: SM });
  const item = (t: LocalTarget, executionId: string) => ({ target: { name: t.name, secretId: t.secretArn }, executionId, wave: 'rest' as const, trigger: 'deploy' as const });
  const worker = (t: LocalTarget, executionId: string) => bundle.createFleetWorker()(item(t, executionId), lambdaContext({ timeoutMs: 60_000 }));
  const query = (t: LocalTarget, sql: string) => fleet.query(t, sql);
  const applied = async (t: LocalTarget) =>
    (await query(t, `SELECT to_regclass('public.pgmigrations') IS NOT NULL AS present`))[0].present ? (await query(t, 'SELECT name FROM public.pgmigrations ORDER BY id')).map((r) => r.name) : [];

  /**
   * One CodeBuild build as the project defines it: the build phase's commands exactly as synthesized, in a
   * copy of the staged asset (CodeBuild's source directory), with the project's environment variables, the
   * overrides the state machine's task passes (resolved from the Map item) and CodeBuild's own build id.
   */
  function startBuild(t: LocalTarget, executionId: string, extra: Record<string, string> = {}, f: SynthesizedFleet = s, source = assetCopy) {
    const [[, project]] = projectOf(f);
    const spec = JSON.parse(project.Properties.Source.BuildSpec);
    const projectEnv = Object.fromEntries(
      (project.Properties.Environment.EnvironmentVariables as any[]).map((v) => [v.Name, typeof v.Value === 'string' ? v.Value : LEDGER]),
    );
    const input: Record<string, any> = { ...item(t, executionId), worker: { outcome: 'long-running' } };
    const overrides = Object.fromEntries(
      (f.asl.States.RestWave.ItemProcessor.States.MigrateTargetInCodeBuild.Parameters.EnvironmentVariablesOverride as any[]).map((o) => [
        o.Name,
        String((o['Value.$'] as string).slice(2).split('.').reduce((v: any, k) => v[k], input)),
      ]),
    );
    const buildId = `FleetLongRunning:build-${++buildCount}`;
    const env = {
      PATH: process.env.PATH!,
      HOME: process.env.HOME ?? '/tmp',
      ...projectEnv,
      ...awsEnv(),
      DB_TLS: 'off', // the local server has no TLS (see the file comment)
      RDS_CA_FILE: '',
      ...overrides,
      CODEBUILD_BUILD_ID: buildId,
      ...extra,
    };
    delete (env as Record<string, string>).RDS_CA_FILE;
    let stdout = '';
    let stderr = '';
    const done = (async () => {
      for (const command of spec.phases.build.commands as string[]) {
        const code = await new Promise<number>((resolve) => {
          const child = spawn('sh', ['-c', command], { cwd: source, env });
          child.stdout.on('data', (d) => (stdout += d));
          child.stderr.on('data', (d) => (stderr += d));
          child.on('close', (c) => resolve(c ?? 1));
        });
        if (code !== 0) return { code, stdout, stderr, buildId };
      }
      return { code: 0, stdout, stderr, buildId };
    })();
    return { done, buildId };
  }

  beforeAll(async () => {
    aws = await startAwsJsonStandIn();
    fleet = await startLocalFleet(serverUrl());
    targets = await fleet.addTargets(PREFIX, 4);
    restore = setEnv(awsEnv());
    bundle = await import(join(s.assetDir, 'index.mjs'));
    // Outside the project: the build's bundle must carry what it needs (CodeBuild has no node_modules of ours).
    assetCopy = mkdtempSync(join(tmpdir(), 'fleet-build-src-'));
    cpSync(s.assetDir, assetCopy, { recursive: true });
    ledger = new DynamoDbLedger({ tableName: LEDGER });
  }, 300_000);
  afterAll(async () => {
    restore?.();
    ledger?.destroy();
    await fleet?.close();
    await aws?.stop();
    if (assetCopy) rmSync(assetCopy, { recursive: true, force: true });
  }, 300_000);

  it('the bundled worker hands a target with a pending long-running migration to CodeBuild: nothing runs, the ledger says running', async () => {
    const [t] = targets;
    const exec = `${SM.replace(':stateMachine:', ':execution:')}:handoff`;
    const r = await worker(t!, exec);
    expect(r).toEqual({ target: t!.name, outcome: 'long-running', runId: '', appliedCount: 0, lastMigration: null, longRunning: [BACKFILL], reason: 'marked' });
    // Not even the first (short) migration: the whole run goes to the build, under one lock.
    expect(await applied(t!)).toEqual([]);
    expect((await query(t!, `SELECT to_regclass('public.migration_runs') AS r`))[0].r).toBeNull();
    expect(await ledger.list(exec)).toMatchObject([{ target: t!.name, outcome: 'running', runner: 'codebuild', longRunning: [BACKFILL], runId: '', migrationsApplied: [] }]);
  }, 60_000);

  it('the buildspec command migrates the target with the same core: its run row, the ledger entry with the build id', async () => {
    const t = targets[1]!;
    const exec = `${SM.replace(':stateMachine:', ':execution:')}:build-ok`;
    const { done, buildId } = startBuild(t, exec);
    const r = await done;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toMatchObject({ target: t.name, outcome: 'succeeded', appliedCount: 2, lastMigration: BACKFILL });
    expect(await applied(t)).toEqual(['0001_tenant_items', BACKFILL]);
    expect(await query(t, `SELECT count(*)::int AS n FROM public.tenant_items WHERE search = lower(label)`)).toEqual([{ n: 100 }]);
    const runs = await query(t, `SELECT outcome, command, trigger, actor FROM public.migration_runs`);
    expect(runs).toEqual([{ outcome: 'succeeded', command: 'fleet:rest:codebuild', trigger: 'deploy', actor: `fleet:${exec}` }]);
    expect(await ledger.list(exec)).toMatchObject([{ target: t.name, outcome: 'succeeded', runner: 'codebuild', buildId, migrationsApplied: ['0001_tenant_items', BACKFILL] }]);
    // Log lines carry the execution ARN and the build id.
    expect(r.stdout).toContain(`"executionArn":"${exec}"`);
    expect(r.stdout).toContain(`"buildId":"${buildId}"`);
  }, 120_000);

  it("the build's statement deadline holds: a statement over STATEMENT_TIMEOUT_MS is cancelled, its migration rolled back, the build fails", async () => {
    const t = targets[3]!;
    await query(t, `ALTER DATABASE "${t.database}" SET migrator_test.backfill_sleep = '60'`);
    const exec = `${SM.replace(':stateMachine:', ':execution:')}:build-deadline`;
    const r = await startBuild(t, exec, { STATEMENT_TIMEOUT_MS: '1500' }).done;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/statement timeout/);
    // 0001 committed in its own transaction; the backfill's ALTER TABLE was rolled back with it.
    expect(await applied(t)).toEqual(['0001_tenant_items']);
    expect(await query(t, `SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'tenant_items' AND column_name = 'search'`)).toEqual([{ n: 0 }]);
    expect(await query(t, `SELECT outcome FROM public.migration_runs`)).toEqual([{ outcome: 'failed' }]);
    expect(await ledger.list(exec)).toMatchObject([{ target: t.name, outcome: 'failed', runner: 'codebuild', error: expect.stringMatching(/statement timeout/) }]);
  }, 120_000);

  it('the wait ends while a build still migrates: the deploy fails naming it, the ledger says running; the next deploy is refused by the lock and says so; after the build it is a no-op', async () => {
    const t = targets[2]!;
    // 0001 already applied by hand; the build then only has the long backfill to run.
    const up = await run(['up', '--quiet', '--to', '0001_tenant_items', '--dir', LONG, '--database-url', t.url]);
    expect(up.code).toBe(0);
    const base = { ServiceToken: 'x', ResponseURL: 'https://x', StackId: 'arn:aws:cloudformation:us-east-1:000000000000:stack/S/1', LogicalResourceId: 'Fleet', ResourceType: 'Custom::DatabaseFleetMigrations', RequestId: 'r' };
    const props = (nonce: string) => ({ ServiceToken: 'x', Stage: 'staging', ResourceName: 'Fleet', ContentHash: 'abc', Wait: 'true', WaitSeconds: '2700', DeployNonce: nonce });
    const deploy = bundle.createFleetDeploy({ now: () => clock });

    // Deploy 1: the execution starts; the worker hands the target over; the build starts and takes the lock.
    const d1 = await deploy.onEvent({ ...base, RequestType: 'Create', ResourceProperties: props('2026-12-01T10:00:00.000Z') });
    const exec1 = aws.executions.at(-1)!;
    expect((await worker(t, exec1.executionArn)).outcome).toBe('long-running');
    // The build waits for a table lock this test holds, so it stays "still migrating" until released.
    const blocker = new pg.Client({ connectionString: t.url });
    blocker.on('error', () => {}); // ended by the fleet's cleanup if an assertion fails first
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE public.tenant_items IN ACCESS SHARE MODE');
    const buildA = startBuild(t, exec1.executionArn, { LOCK_TIMEOUT_MS: '600000' });
    const probe = new pg.Client({ connectionString: t.url });
    await probe.connect();
    let holders: Awaited<ReturnType<typeof migrationLockHolders>> = [];
    for (let i = 0; i < 600 && holders.length === 0; i++) {
      holders = await migrationLockHolders(probe, tablesOf({ dir: LONG }));
      if (!holders.length) await new Promise((r) => setTimeout(r, 100));
    }
    await probe.end();
    expect(holders).toHaveLength(1);
    // The holder is build A's session (application_name migrator:<its run id>; checked when it ends).
    const runA = holders[0]!.applicationName.replace(/^migrator:/, '').replace(/:lock$/, '');

    // The deploy's wait ends (45 min) while the execution runs.
    clock += 2_701_000;
    const waited = await deploy.isComplete({ ...base, RequestType: 'Create', ...d1 }).catch((e: Error) => e);
    expect(waited).toBeInstanceOf(Error);
    expect(waited.message).toMatch(/^Fleet execution still running after 45 min \(the deploy waits at most 45 min\): 0 target\(s\) migrated and 0 failed so far\. 1 target\(s\) still migrating in CodeBuild: tenant-002 \(0002_backfill_item_search\)\. The execution is not stopped/);
    expect(waited.message).toContain('a target still being migrated holds its migration lock, so no second run starts on it');
    expect(waited.message).toContain(exec1.executionArn);
    expect(exec1.status).toBe('RUNNING');
    expect(aws.calls.filter((c) => c.includes('StopExecution'))).toEqual([]);
    expect(await ledger.list(exec1.executionArn)).toMatchObject([{ target: t.name, outcome: 'running', runner: 'codebuild' }]);

    // Deploy 2 (the next one): a new execution; its worker finds the lock held and refuses at once, naming the holder.
    const d2 = await deploy.onEvent({ ...base, RequestType: 'Update', PhysicalResourceId: d1.PhysicalResourceId, ResourceProperties: props('2026-12-01T11:00:00.000Z'), OldResourceProperties: props('2026-12-01T10:00:00.000Z') });
    const exec2 = aws.executions.at(-1)!;
    expect(exec2.executionArn).not.toBe(exec1.executionArn);
    const busy = await worker(t, exec2.executionArn).catch((e: Error) => e);
    expect(busy.name).toBe('TargetFailed');
    expect(busy.message).toContain('tenant-002: an earlier run is still migrating this target (pending long-running: 0002_backfill_item_search), so this execution does not start a second one. Nothing was changed.');
    expect(busy.message).toContain(`Its migration lock is held by pid ${holders[0]!.pid}, application_name "migrator:${runA}:lock"`);
    expect(await ledger.list(exec2.executionArn)).toMatchObject([{ target: t.name, outcome: 'failed', errorName: 'TargetBusy', runId: '' }]);
    // Deploy 2's result: the summary's reason (what the Fail state carries) reaches CloudFormation.
    const summary = await bundle.createFleetSummary()({ executionId: exec2.executionArn, startTime: new Date().toISOString(), total: 1, trigger: 'deploy', failure: { Error: 'States.ExceedToleratedFailureThreshold' }, failedWave: 'rest' });
    expect(summary.ok).toBe(false);
    exec2.status = 'FAILED';
    exec2.error = summary.error;
    exec2.cause = summary.reason;
    const refused = await deploy.isComplete({ ...base, RequestType: 'Update', ...d2 }).catch((e: Error) => e);
    expect(refused.message).toMatch(/^1 of 1 fleet target\(s\) failed \(more targets failed than the fleet tolerates\): tenant-002: an earlier run is still migrating this target \(pending long-running: 0002_backfill_item_search\), so this execution does not start a second one\. Nothing was changed\. Its migration lock is held by pid \d+/);
    // Even a second build on the target (had one been started) could not run alongside: the same lock, its wait deadline.
    const buildB = await startBuild(t, `${exec2.executionArn}-second-build`, { LOCK_WAIT_TIMEOUT_MS: '1500' }).done;
    expect(buildB.code).toBe(1);
    expect(buildB.stderr).toContain(`Another migration run is holding the lock for public.pgmigrations and did not finish within 1500 ms (held by pid ${holders[0]!.pid}, application_name "migrator:${runA}:lock"`);

    // The build finishes: its ledger row becomes succeeded; the backfill ran exactly once.
    await blocker.query('COMMIT');
    await blocker.end();
    const a = await buildA.done;
    expect(a.code).toBe(0);
    expect(JSON.parse(a.stdout.trim().split('\n').at(-1)!)).toMatchObject({ outcome: 'succeeded', runId: runA, appliedCount: 1 });
    expect(await ledger.list(exec1.executionArn)).toMatchObject([{ target: t.name, outcome: 'succeeded', runner: 'codebuild', buildId: buildA.buildId, migrationsApplied: [BACKFILL] }]);
    expect(await applied(t)).toEqual(['0001_tenant_items', BACKFILL]);
    expect(await query(t, `SELECT count(*)::int AS n FROM public.migration_runs WHERE outcome = 'succeeded' AND '${BACKFILL}' = ANY(migrations_applied)`)).toEqual([{ n: 1 }]);

    // Deploy 3: nothing pending, the worker migrates nothing and hands nothing over.
    const exec3 = `${SM.replace(':stateMachine:', ':execution:')}:after`;
    expect(await worker(t, exec3)).toMatchObject({ outcome: 'succeeded', appliedCount: 0, lastMigration: BACKFILL });
  }, 240_000);

  it('a run that does not fit in the invocation (statement timeout in a transactional migration) goes to CodeBuild, which goes on from there; a migration without a transaction is not resumed', async () => {
    const slowBundle = await import(join(slow.assetDir, 'index.mjs'));
    const slowSource = mkdtempSync(join(tmpdir(), 'fleet-build-slow-'));
    cpSync(slow.assetDir, slowSource, { recursive: true });
    const [a, b] = await fleet.addTargets('migrator/staging/slow/', 2);
    await query(a!, `ALTER DATABASE "${a!.database}" SET migrator_test.sleep_backfill = '60'`);
    await query(b!, `ALTER DATABASE "${b!.database}" SET migrator_test.sleep_index = '60'`);
    const exec = `${SM.replace(':stateMachine:', ':execution:')}:out-of-time`;
    // The invocation's statement timeout, as a short Lambda would derive it.
    const restoreSlow = setEnv({ STATEMENT_TIMEOUT_MS: '1500' });
    try {
      const run = (t: LocalTarget) => slowBundle.createFleetWorker()(item(t, exec), lambdaContext({ timeoutMs: 60_000 }));
      expect(await run(a!)).toMatchObject({ outcome: 'long-running', reason: 'out-of-time', longRunning: ['0001_slow_backfill'], appliedCount: 0 });
      expect(await applied(a!)).toEqual([]);
      expect((await query(a!, `SELECT to_regclass('public.slow_items') AS t`))[0].t).toBeNull(); // rolled back
      expect(await query(a!, `SELECT outcome, error FROM public.migration_runs`)).toEqual([{ outcome: 'failed', error: expect.stringMatching(/statement timeout/) }]);
      const e = await run(b!).catch((x: Error) => x);
      expect(e.name).toBe('TargetFailed');
      expect(e.message).toMatch(/statement timeout.*0002_slow_index runs without a transaction, so it is not resumed elsewhere: check what it left, then mark it `-- migrator:long-running`/);
      expect(await applied(b!)).toEqual(['0001_slow_backfill']);
    } finally {
      restoreSlow();
    }
    expect((await ledger.list(exec)).map((x) => [x.target, x.outcome, x.errorName])).toEqual([
      [a!.name, 'running', 'OutOfTime'],
      [b!.name, 'failed', 'MigrationError'],
    ]);
    // The build (the project's own statement timeout: its budget) continues target A from 0001.
    await query(a!, `ALTER DATABASE "${a!.database}" SET migrator_test.sleep_backfill = '0.2'`);
    const r = await startBuild(a!, exec, {}, slow, slowSource).done;
    rmSync(slowSource, { recursive: true, force: true });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await applied(a!)).toEqual(['0001_slow_backfill', '0002_slow_index']);
    expect((await ledger.list(exec))[0]).toMatchObject({ target: a!.name, outcome: 'succeeded', runner: 'codebuild', migrationsApplied: ['0001_slow_backfill', '0002_slow_index'] });
  }, 180_000);

  it("through the Map's semantics: long-running targets run in their items' builds; a failed build counts toward the tolerance and names its target", async () => {
    const prefix = 'migrator/staging/wave/';
    const wave = await fleet.addTargets(prefix, 6);
    const failing = wave[4]!;
    await query(failing, `ALTER DATABASE "${failing.database}" SET migrator_test.backfill_sleep = '60'`);
    const restoreWave = setEnv({ TARGET_SECRET_PREFIX: prefix, CANARY_COUNT: '1' });
    const build = async (i: { target: { name: string }; executionId: string }) => {
      const t = wave.find((w) => w.name === i.target.name)!;
      const r = await startBuild(t, i.executionId, { STATEMENT_TIMEOUT_MS: '3000' }).done;
      if (r.code !== 0) throw new Error(`CodeBuild.BuildFailed: ${r.stderr.trim().split('\n').at(-1)}`);
    };
    try {
      const tolerant = await runFleetExecution({ bundle, ledger, maxConcurrency: 3, toleratedFailureCount: 1, build });
      expect(tolerant.summary).toMatchObject({ ok: true, total: 6, succeeded: 5, failed: 1, running: 0 });
      expect(tolerant.events.filter((e) => e.kind === 'end' && !e.ok).map((e) => e.target)).toEqual([failing.name]);
      for (const t of wave.filter((w) => w !== failing)) expect(await applied(t)).toEqual(['0001_tenant_items', BACKFILL]);
      // The failed target: 0001 applied by its build, the backfill rolled back at the build's statement timeout.
      expect(await applied(failing)).toEqual(['0001_tenant_items']);
      const entries = await ledger.list(tolerant.executionId);
      expect(entries.map((e) => [e.target, e.outcome, e.runner])).toEqual(wave.map((w) => [w.name, w === failing ? 'failed' : 'succeeded', 'codebuild']));

      // No tolerance: the same failure stops the execution, and its reason names the target and why.
      const strict = await runFleetExecution({ bundle, ledger, maxConcurrency: 3, build }, { trigger: 'deploy', only: [failing.name, wave[0]!.name] });
      expect(strict.summary).toMatchObject({ ok: false, error: 'FleetToleranceExceeded', failed: 1 });
      expect(strict.summary.reason).toMatch(new RegExp(`^1 of 2 fleet target\\(s\\) failed \\(more targets failed than the fleet tolerates\\): ${failing.name}: .*statement timeout`));
    } finally {
      restoreWave();
    }
  }, 240_000);

  it('longRunning: false fails a target with a pending long-running TypeScript migration, changing nothing', async () => {
    const offBundle = await import(join(off.assetDir, 'index.mjs'));
    const [t] = await fleet.addTargets('migrator/staging/off/', 1);
    const restoreOff = setEnv({ LONG_RUNNING: 'off' });
    try {
      const e = await offBundle.createFleetWorker()(item(t!, 'arn:aws:states:us-east-1:000000000000:execution:Fleet:off'), lambdaContext({ timeoutMs: 60_000 })).catch((x: Error) => x);
      expect(e.name).toBe('TargetFailed');
      expect(e.message).toContain('pending migration(s) 0002_index_items are marked long-running, but this fleet has no long-running runner (longRunning: false). Nothing was changed.');
      expect(await applied(t!)).toEqual([]);
    } finally {
      restoreOff();
    }
  }, 60_000);
});
