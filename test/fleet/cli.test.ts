/**
 * `migrator fleet status|retry --failed|start` and `migrator invoke fleet` through the real launcher, with
 * real DynamoDB / Step Functions SDK clients talking to the local JSON stand-in; the ledger written by the
 * DynamoDB implementation the worker uses (round trip, pagination).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDbLedger } from '../../functions/core/fleet/dynamodb-ledger.ts';
import type { LedgerEntry } from '../../functions/core/fleet/types.ts';
import { run } from '../cli/helpers.ts';
import { startAwsJsonStandIn, type AwsJsonStandIn } from './support/aws-json-standin.ts';
import { setEnv } from './support/fleet-env.ts';

const EXEC = 'arn:aws:states:us-east-1:000000000000:execution:Fleet:deploy-1';
const SM = 'arn:aws:states:us-east-1:000000000000:stateMachine:Fleet';
let aws: AwsJsonStandIn;
let restore: () => void;
let dir: string;

const entry = (target: string, outcome: 'succeeded' | 'failed', extra: Partial<LedgerEntry> = {}): LedgerEntry => ({
  executionId: EXEC,
  target,
  secretId: `arn:aws:secretsmanager:us-east-1:000000000000:secret:migrator/staging/fleet/${target}-AbCdEf`,
  wave: target === 'tenant-000' ? 'canary' : 'rest',
  runId: `run-${target}`,
  outcome,
  migrationsApplied: outcome === 'succeeded' ? ['0001_a', '0002_b'] : [],
  lastMigration: outcome === 'succeeded' ? '0002_b' : null,
  durationMs: 120,
  finishedAt: '2026-12-01T10:00:00.000Z',
  ...extra,
});

beforeAll(async () => {
  aws = await startAwsJsonStandIn({ pageSize: 2 });
  restore = setEnv(aws.env);
  dir = mkdtempSync(join(tmpdir(), 'fleet-cli-'));
  writeFileSync(join(dir, 'cdk-outputs.json'), JSON.stringify({ 'PgTenantMigrator-staging': { FleetTenantsFleetStateMachineArnABC: SM, FleetTenantsFleetLedgerTableNameDEF: 'ledger-staging' } }));
  const ledger = new DynamoDbLedger({ tableName: 'ledger-staging' });
  for (const e of [
    entry('tenant-000', 'succeeded'),
    entry('tenant-001', 'succeeded'),
    entry('tenant-002', 'failed', { error: 'Could not connect to PostgreSQL at db:5432/t2 after 4 attempt(s): ECONNREFUSED', errorName: 'Error' }),
    entry('tenant-003', 'succeeded'),
    entry('tenant-004', 'failed', { error: 'Another migration run is holding the lock', errorName: 'LockWaitTimeoutError' }),
  ]) {
    await ledger.record(e);
  }
  ledger.destroy();
});
afterAll(async () => {
  restore?.();
  await aws?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const outputs = () => ['--outputs-file', join(dir, 'cdk-outputs.json')];

describe('DynamoDB ledger', () => {
  it('round-trips entries across pages, in target order, nulls and lists intact', async () => {
    const ledger = new DynamoDbLedger({ tableName: 'ledger-staging' });
    const got = await ledger.list(EXEC);
    ledger.destroy();
    expect(got.map((e) => e.target)).toEqual(['tenant-000', 'tenant-001', 'tenant-002', 'tenant-003', 'tenant-004']);
    expect(got[0]).toEqual(entry('tenant-000', 'succeeded'));
    expect(got[2]).toMatchObject({ outcome: 'failed', lastMigration: null, migrationsApplied: [], errorName: 'Error' });
    expect(aws.calls.filter((c) => c.endsWith('.Query')).length).toBeGreaterThanOrEqual(3); // pages of 2
    const item = [...aws.tables.get('ledger-staging')!.values()][0]!;
    expect(Number(item.expiresAt.N)).toBeGreaterThan(Date.now() / 1000 + 89 * 86_400);
  });
});

describe('migrator fleet', () => {
  it('status --json: counts by outcome and the failed targets with reasons', async () => {
    const r = await run(['fleet', 'status', '--stage', 'staging', '--execution', EXEC, '--json', ...outputs()], aws.env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ executionId: EXEC, succeeded: 3, failed: 2, migrationsApplied: 6 });
    expect(s.failedTargets.map((f: any) => [f.target, f.errorName])).toEqual([['tenant-002', 'Error'], ['tenant-004', 'LockWaitTimeoutError']]);
  });

  it('status shows targets still running in CodeBuild (long-running migrations), text and --json', async () => {
    const exec = `${EXEC}-long`;
    const ledger = new DynamoDbLedger({ tableName: 'ledger-staging' });
    await ledger.record(entry('tenant-000', 'succeeded', { executionId: exec }));
    await ledger.record({ ...entry('tenant-001', 'succeeded', { executionId: exec }), outcome: 'running', runId: '', migrationsApplied: [], lastMigration: null, runner: 'codebuild', longRunning: ['0009_backfill'], buildId: 'FleetLongRunning:b-1' });
    ledger.destroy();
    const text = await run(['fleet', 'status', '--stage', 'staging', '--execution', exec, ...outputs()], aws.env);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('1 succeeded, 0 failed, 1 running in CodeBuild (2 targets recorded; 2 migrations applied)');
    expect(text.stdout).toContain('  running: tenant-001 (long-running: 0009_backfill; build FleetLongRunning:b-1)');
    const json = JSON.parse((await run(['fleet', 'status', '--stage', 'staging', '--execution', exec, '--json', ...outputs()], aws.env)).stdout);
    expect(json).toMatchObject({ succeeded: 1, failed: 0, running: 1, runningTargets: [{ target: 'tenant-001', wave: 'rest', buildId: 'FleetLongRunning:b-1', longRunning: ['0009_backfill'] }] });
  });

  it('status (text) names the failed targets and the retry command', async () => {
    const r = await run(['fleet', 'status', '--stage', 'staging', '--execution', EXEC, '--ledger-table', 'ledger-staging'], aws.env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('3 succeeded, 2 failed');
    expect(r.stdout).toContain('tenant-004 [rest, LockWaitTimeoutError]: Another migration run is holding the lock');
    expect(r.stdout).toContain(`migrator fleet retry --failed --stage staging --execution ${EXEC}`);
  });

  it('retry --failed --json starts one execution of only the failed targets', async () => {
    const before = aws.executions.length;
    const r = await run(['fleet', 'retry', '--failed', '--stage', 'staging', '--execution', EXEC, '--json', ...outputs()], aws.env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(aws.executions).toHaveLength(before + 1);
    const started = aws.executions.at(-1)!;
    expect(started.stateMachineArn).toBe(SM);
    expect(started.input).toEqual({ trigger: 'invoke', only: ['tenant-002', 'tenant-004'] });
    expect(JSON.parse(r.stdout)).toEqual({ executionId: started.executionArn, targets: ['tenant-002', 'tenant-004'], from: EXEC });
  });

  it('invoke fleet --stage S starts a whole-fleet execution', async () => {
    const r = await run(['invoke', 'fleet', '--stage', 'staging', '--json', ...outputs()], aws.env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const started = aws.executions.at(-1)!;
    expect(started.input).toEqual({ trigger: 'invoke' });
    expect(JSON.parse(r.stdout)).toEqual({ executionArn: started.executionArn, stage: 'staging' });
  });

  it('usage and lookup errors are clear and exit non-zero', async () => {
    const noFailed = await run(['fleet', 'retry', '--stage', 'staging', '--execution', EXEC, ...outputs()], aws.env);
    expect(noFailed.code).toBe(1);
    expect(noFailed.stderr).toContain('retry needs --failed');
    const unknown = await run(['fleet', 'status', '--stage', 'staging', '--execution', `${EXEC}-nope`, ...outputs()], aws.env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(`no entries for execution ${EXEC}-nope`);
    const noTable = await run(['fleet', 'status', '--stage', 'prod', '--execution', EXEC, ...outputs()], aws.env);
    expect(noTable.code).toBe(1);
    expect(noTable.stderr).toContain('No fleet ledger table for stage prod');
  });
});
