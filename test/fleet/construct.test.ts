/**
 * DatabaseFleetMigrations as synthesized: the template (ledger, functions, grants, custom resource), the
 * state machine definition validated with asl-validator and asserted (waves, concurrency, tolerance, retry
 * policy), cdk-nag clean, and the bundled deploy handler (onEvent + async isComplete) against real SDK
 * clients talking to a local Step Functions / DynamoDB stand-in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import aslValidator from 'asl-validator';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatabaseFleetMigrations, FLEET_DEFAULTS } from '../../infra/fleet/database-fleet-migrations.ts';
import { DynamoDbLedger } from '../../functions/core/fleet/dynamodb-ledger.ts';
import { startAwsJsonStandIn, type AwsJsonStandIn } from './support/aws-json-standin.ts';
import { setEnv } from './support/fleet-env.ts';
import { synthFleet, type SynthesizedFleet } from './support/stack.ts';

const MIGRATIONS = fileURLToPath(new URL('./fixtures/migrations', import.meta.url));
let s: SynthesizedFleet;

beforeAll(() => {
  s = synthFleet(
    { migrationsDir: MIGRATIONS, maxConcurrency: 20, toleratedFailurePercentage: 5, toleratedFailureCount: 3, canary: { targets: ['tenant-a', 'tenant-b'] }, deployWait: Duration.minutes(30) },
    (stack, vpc) => new DatabaseFleetMigrations(stack, 'PostDeploy', { stage: 'staging', vpc, migrationsDir: MIGRATIONS, targets: { secretTag: { key: 'fleet', value: 'tenants' } }, onDeploy: 'after-deploy' }),
  );
}, 300_000);
afterAll(() => s?.cleanup());

describe('state machine definition', () => {
  it('is valid ASL (asl-validator)', () => {
    const r = aslValidator(s.asl);
    expect(r.errors).toEqual([]);
    expect(r.isValid).toBe(true);
  });

  it('lists targets, runs the canary wave, then the rest, then the summary', () => {
    const st = s.asl.States;
    expect(s.asl.StartAt).toBe('ListTargets');
    expect(st.ListTargets.Next).toBe('CanaryWave');
    expect(st.CanaryWave.Next).toBe('RestWave');
    expect(st.RestWave.Next).toBe('Summarize');
    // Each wave reads its list from S3 (written by the list step), never from the state (256 KiB limit).
    expect(st.ListTargets.Parameters).toEqual({ 'input.$': '$', 'executionId.$': '$$.Execution.Id' });
    for (const [w, key] of [['CanaryWave', '$.canary.key'], ['RestWave', '$.rest.key']]) {
      expect(st[w!].ItemsPath).toBeUndefined();
      expect(st[w!].ItemReader).toEqual({ Resource: 'arn:aws:states:::s3:getObject', ReaderConfig: { InputType: 'JSON' }, Parameters: { Bucket: expect.stringContaining('FleetTargetLists'), 'Key.$': key } });
    }
    // A failed wave is caught, marked, and summarized; the execution then fails with the summary's reason.
    expect(st.CanaryWave.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'CanaryFailed' }]);
    expect(st.CanaryFailed).toMatchObject({ Type: 'Pass', Result: 'canary', Next: 'Summarize' });
    expect(st.Failed).toMatchObject({ Type: 'Fail', ErrorPath: '$.summary.error', CausePath: '$.summary.reason' });
    expect(st['Passed?'].Choices[0]).toMatchObject({ Variable: '$.summary.ok', BooleanEquals: true, Next: 'Succeeded' });
  });

  it('Distributed Maps: concurrency, tolerance (canary none), standard child executions, results discarded', () => {
    for (const w of ['CanaryWave', 'RestWave']) {
      const m = s.asl.States[w];
      expect(m.Type).toBe('Map');
      expect(m.MaxConcurrency).toBe(20);
      expect(m.ItemProcessor.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' });
      expect(m.ResultPath).toBeNull();
      expect(m.ItemSelector).toEqual({ 'target.$': '$$.Map.Item.Value', 'executionId.$': '$$.Execution.Id', wave: w === 'CanaryWave' ? 'canary' : 'rest', 'trigger.$': '$.trigger' });
    }
    // Omitted means 0 in Step Functions: the first failed canary target fails the Map.
    expect(s.asl.States.CanaryWave.ToleratedFailureCount ?? 0).toBe(0);
    expect(s.asl.States.CanaryWave.ToleratedFailurePercentage ?? 0).toBe(0);
    expect(s.asl.States.RestWave).toMatchObject({ ToleratedFailureCount: 3, ToleratedFailurePercentage: 5 });
  });

  it('the worker retries Lambda service errors and throttling only, never a failed target', () => {
    for (const [w, task] of [['CanaryWave', 'MigrateCanaryTarget'], ['RestWave', 'MigrateTarget']]) {
      const t = s.asl.States[w!].ItemProcessor.States[task!];
      expect(t.Type).toBe('Task');
      const errors = t.Retry.flatMap((r: any) => r.ErrorEquals);
      expect(errors).toEqual(['Lambda.ClientExecutionTimeoutException', 'Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException', 'Lambda.TooManyRequestsException']);
      expect(errors).not.toContain('States.ALL');
      expect(errors).not.toContain('TargetFailed');
      expect(t.Retry.at(-1)).toMatchObject({ MaxAttempts: 8, BackoffRate: 2, JitterStrategy: 'FULL' });
      expect(t.Catch).toBeUndefined();
    }
  });
});

describe('template', () => {
  it('synthesizes clean under cdk-nag (AwsSolutions), every acknowledgement with a reason', () => {
    expect(s.nagError).toBeUndefined();
  });

  it('ledger: (executionId, target) keys, on-demand, point-in-time recovery, TTL, retained', () => {
    s.template.hasResource('AWS::DynamoDB::Table', {
      Properties: {
        KeySchema: [{ AttributeName: 'executionId', KeyType: 'HASH' }, { AttributeName: 'target', KeyType: 'RANGE' }],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      },
      DeletionPolicy: 'Retain',
    });
  });

  it('worker: in the VPC, 14-minute timeout, per-target deadlines, TLS verified, no secret in its environment', () => {
    const fns = s.template.findResources('AWS::Lambda::Function', { Properties: { Handler: 'index.fleetWorker' } });
    const worker = Object.values(fns)[0] as any;
    expect(worker.Properties.Timeout).toBe(FLEET_DEFAULTS.function.toSeconds());
    expect(worker.Properties.VpcConfig).toBeDefined();
    expect(worker.Properties.Runtime).toBe('nodejs24.x');
    expect(worker.Properties.Environment.Variables).toMatchObject({ DB_TLS: 'verify-full', NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem', LOCK_WAIT_TIMEOUT_MS: '120000', STATEMENT_TIMEOUT_MS: '600000' });
    expect(JSON.stringify(worker.Properties.Environment)).not.toMatch(/password/i);
  });

  it('grants: secrets under the prefix (worker), by tag with a condition (other fleet), ListSecrets for the lister', () => {
    const policies = JSON.stringify(s.template.findResources('AWS::IAM::Policy'));
    expect(policies).toContain('secret:migrator/staging/fleet/*');
    expect(policies).toContain('secretsmanager:ResourceTag/fleet');
    s.template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Sid: 'ListTargetSecrets', Action: 'secretsmanager:ListSecrets' })]) },
    });
  });

  it('list step: canary names and the prefix in its environment', () => {
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.fleetListTargets',
      Environment: { Variables: Match.objectLike({ CANARY_NAMES: 'tenant-a,tenant-b', TARGET_SECRET_PREFIX: 'migrator/staging/fleet/' }) },
    });
  });

  it('target lists: a private, encrypted, SSL-only bucket with expiring objects; PutObject for the lister, GetObject for the state machine', () => {
    const buckets = s.template.findResources('AWS::S3::Bucket');
    const [id, bucket] = Object.entries(buckets).find(([k]) => k.startsWith('FleetTargetLists'))! as [string, any];
    expect(bucket.Properties).toMatchObject({
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      LifecycleConfiguration: { Rules: [{ ExpirationInDays: 14, Status: 'Enabled' }] },
    });
    s.template.hasResourceProperties('AWS::S3::BucketPolicy', { Bucket: { Ref: id }, PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) } });
    s.template.hasResourceProperties('AWS::Lambda::Function', { Handler: 'index.fleetListTargets', Environment: { Variables: Match.objectLike({ TARGETS_BUCKET: { Ref: id } }) } });
    const statements = Object.entries(s.template.findResources('AWS::IAM::Policy')).flatMap(([pid, p]: [string, any]) => p.Properties.PolicyDocument.Statement.map((st: any) => [pid, st]));
    const onLists = statements.filter(([, st]) => JSON.stringify(st.Resource).includes(id));
    expect(onLists.map(([pid, st]) => [pid.replace(/[0-9A-F]{8}$/, ''), st.Action])).toEqual([
      ['FleetListTargetsServiceRoleDefaultPolicy', 's3:PutObject'],
      ['FleetStateMachineRoleDefaultPolicy', 's3:GetObject'],
    ]);
  });

  it('deploy resource: waits (within CloudFormation\'s hour) or, post-deploy, does not', () => {
    const crs = Object.values(s.template.findResources('Custom::DatabaseFleetMigrations')) as any[];
    expect(crs).toHaveLength(2);
    const [wait, post] = [crs.find((r) => r.Properties.Wait === 'true'), crs.find((r) => r.Properties.Wait === 'false')];
    expect(wait.Properties.WaitSeconds).toBe('1800');
    expect(Number(wait.Properties.ServiceTimeout)).toBeLessThanOrEqual(3600);
    expect(post).toBeDefined();
  });

  it('outputs name the state machine and the ledger for the CLI', () => {
    const outputs = Object.keys(s.json.Outputs);
    expect(outputs.filter((k) => k.includes('FleetStateMachineArn'))).toHaveLength(2);
    expect(outputs.filter((k) => k.includes('FleetLedgerTableName'))).toHaveLength(2);
  });

  it('bad props fail the synth naming the prop', () => {
    const stack = new Stack(new App(), 'Bad');
    const vpc = new ec2.Vpc(stack, 'Vpc');
    const make = (p: object) => () => new DatabaseFleetMigrations(stack, `F${Math.random()}`, { stage: 'staging', vpc, migrationsDir: MIGRATIONS, targets: { secretNamePrefix: 'x/' }, ...p });
    expect(make({ deployWait: Duration.minutes(58) })).toThrow(/deployWait is 58 min; CloudFormation waits at most 60 min/);
    expect(make({ maxConcurrency: 0 })).toThrow(/maxConcurrency 0/);
    expect(make({ toleratedFailurePercentage: 101 })).toThrow(/toleratedFailurePercentage 101/);
    expect(make({ targets: {} })).toThrow(/targets needs secretNamePrefix, secretTag or static/);
    expect(make({ targets: { secretNamePrefix: 'tenants' } })).toThrow(/must end with "\/"/);
  });
});

describe('deploy custom resource (bundled onEvent + isComplete, real SFN/DynamoDB clients over HTTP)', () => {
  let aws: AwsJsonStandIn;
  let restore: () => void;
  let deploy: any;
  const SM = 'arn:aws:states:us-east-1:000000000000:stateMachine:Fleet';
  const props = (extra: Record<string, string> = {}) => ({ ServiceToken: 'x', Stage: 'staging', ResourceName: 'Fleet', ContentHash: 'abc', Wait: 'true', WaitSeconds: '600', DeployNonce: '2026-12-01T10:00:00.000Z', ...extra });
  const base = { ServiceToken: 'x', ResponseURL: 'https://x', StackId: 'arn:aws:cloudformation:us-east-1:000000000000:stack/S/1', LogicalResourceId: 'Fleet', ResourceType: 'Custom::DatabaseFleetMigrations', RequestId: 'r' };
  let clock = Date.parse('2026-12-01T10:00:00Z');

  beforeAll(async () => {
    aws = await startAwsJsonStandIn();
    restore = setEnv({ ...aws.env, STAGE: 'staging', STATE_MACHINE_ARN: SM, LEDGER_TABLE: 'ledger' });
    const bundle = await import(join(s.assetDir, 'index.mjs'));
    deploy = bundle.createFleetDeploy({ now: () => clock });
  });
  afterAll(async () => {
    restore?.();
    await aws?.stop();
  });

  it('Create starts an execution; isComplete polls until it ends and fails the deploy with the execution\'s reason', async () => {
    const r = await deploy.onEvent({ ...base, RequestType: 'Create', ResourceProperties: props() });
    expect(r.PhysicalResourceId).toBe('fleet-migrations:staging:Fleet');
    const exec = aws.executions.at(-1)!;
    expect(exec.input).toEqual({ trigger: 'deploy' });
    expect(r.Data.ExecutionArn).toBe(exec.executionArn);
    const poll = () => deploy.isComplete({ ...base, RequestType: 'Create', ResourceProperties: props(), ...r });
    expect(await poll()).toEqual({ IsComplete: false });
    exec.status = 'FAILED';
    exec.error = 'FleetCanaryFailed';
    exec.cause = `1 of 40 fleet target(s) failed (the canary wave failed, the rest was not started; 39 not run): tenant-000: boom. Execution: ${exec.executionArn}.`;
    const err = await poll().catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toBe(exec.cause);
    expect(err.stack).toBe(exec.cause); // no stack trace pushed into CloudFormation's 4 KB Reason
  });

  it('a succeeded execution completes the resource with its counts', async () => {
    const r = await deploy.onEvent({ ...base, RequestType: 'Update', PhysicalResourceId: 'p', ResourceProperties: props({ DeployNonce: '2026-12-01T11:00:00.000Z' }), OldResourceProperties: props() });
    const exec = aws.executions.at(-1)!;
    exec.status = 'SUCCEEDED';
    exec.output = JSON.stringify({ ok: true, total: 40, succeeded: 38, failed: 2, skipped: 0 });
    expect(await deploy.isComplete({ ...base, RequestType: 'Update', ...r })).toEqual({ IsComplete: true, Data: { ExecutionArn: exec.executionArn, Total: '40', Succeeded: '38', Failed: '2' } });
  });

  it('the wait ends while the execution still runs: the deploy fails naming the execution and the progress so far; the execution is not stopped', async () => {
    const r = await deploy.onEvent({ ...base, RequestType: 'Create', ResourceProperties: props() });
    const exec = aws.executions.at(-1)!;
    const ledger = new DynamoDbLedger({ tableName: 'ledger' });
    for (const [target, outcome] of [['t1', 'succeeded'], ['t2', 'succeeded'], ['t3', 'failed']] as const) {
      await ledger.record({ executionId: exec.executionArn, target, secretId: `s/${target}`, wave: 'rest', runId: 'r', outcome, migrationsApplied: [], lastMigration: null, durationMs: 1, finishedAt: new Date().toISOString() });
    }
    ledger.destroy();
    clock += 601_000;
    const err = await deploy.isComplete({ ...base, RequestType: 'Create', ...r }).catch((e: Error) => e);
    expect(err.message).toMatch(/^Fleet execution still running after 10 min .*2 target\(s\) migrated and 1 failed so far\. The execution is not stopped/);
    expect(err.message).toContain(exec.executionArn);
    expect(exec.status).toBe('RUNNING');
    expect(aws.calls.filter((c) => c.includes('StopExecution'))).toEqual([]);
  });

  it('post-deploy mode, Delete and the rollback Update start nothing or wait for nothing', async () => {
    const n = aws.executions.length;
    const describes = aws.calls.filter((c) => c.endsWith('DescribeExecution')).length;
    const post = await deploy.onEvent({ ...base, RequestType: 'Create', ResourceProperties: props({ Wait: 'false' }) });
    expect(aws.executions).toHaveLength(n + 1);
    expect(await deploy.isComplete({ ...base, ...post })).toMatchObject({ IsComplete: true, Data: { Waited: 'false' } });
    const del = await deploy.onEvent({ ...base, RequestType: 'Delete', PhysicalResourceId: 'p', ResourceProperties: props() });
    expect(await deploy.isComplete({ ...base, ...del })).toMatchObject({ IsComplete: true });
    // Rollback: CloudFormation sends the previous properties as the new ones (the synth time goes backwards).
    const rb = await deploy.onEvent({ ...base, RequestType: 'Update', PhysicalResourceId: 'p', ResourceProperties: props(), OldResourceProperties: props({ DeployNonce: '2026-12-01T12:00:00.000Z' }) });
    expect(rb.Data.Skipped).toBe('rollback');
    expect(await deploy.isComplete({ ...base, ...rb })).toMatchObject({ IsComplete: true });
    expect(aws.executions).toHaveLength(n + 1);
    expect(aws.calls.filter((c) => c.endsWith('DescribeExecution')).length).toBe(describes);
  });
});
