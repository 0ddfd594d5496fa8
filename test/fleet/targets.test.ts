/**
 * Targets read at execution time: ListSecrets by name prefix and by tag (real SDK client over HTTP to the
 * local JSON stand-in, paginated), merged with the static list, restricted for a retry, split into waves;
 * and the failure reason's shape and size.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { listSecretTargets, mergeTargets, planWaves, restrictTargets } from '../../functions/core/fleet/targets.ts';
import { fleetReason, summarize } from '../../functions/core/fleet/summary.ts';
import type { LedgerEntry } from '../../functions/core/fleet/types.ts';
import { startAwsJsonStandIn, type AwsJsonStandIn } from './support/aws-json-standin.ts';

const arn = (name: string) => `arn:aws:secretsmanager:us-east-1:000000000000:secret:${name}-AbCdEf`;
let aws: AwsJsonStandIn;
let sm: SecretsManagerClient;

beforeAll(async () => {
  aws = await startAwsJsonStandIn({ pageSize: 2 });
  sm = new SecretsManagerClient({ endpoint: aws.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local' } });
  aws.secrets.push(
    { Name: 'migrator/prod/fleet/acme', ARN: arn('migrator/prod/fleet/acme') },
    { Name: 'migrator/prod/fleet/globex', ARN: arn('migrator/prod/fleet/globex') },
    { Name: 'migrator/prod/fleet/initech', ARN: arn('migrator/prod/fleet/initech') },
    { Name: 'migrator/prod/fleetish/other', ARN: arn('migrator/prod/fleetish/other') },
    { Name: 'rds!db-1111', ARN: arn('rds!db-1111'), Tags: [{ Key: 'fleet', Value: 'tenants' }, { Key: 'migrator:target', Value: 'umbrella' }] },
    { Name: 'rds!db-2222', ARN: arn('rds!db-2222'), Tags: [{ Key: 'fleet', Value: 'tenants' }] },
    { Name: 'rds!db-3333', ARN: arn('rds!db-3333'), Tags: [{ Key: 'fleet', Value: 'tenants-old' }] },
  );
});
afterAll(async () => {
  sm?.destroy();
  await aws?.stop();
});

describe('listing targets', () => {
  it('by name prefix: exactly the prefix (not a longer word), name = the rest, across pages', async () => {
    const got = await listSecretTargets(sm, { secretNamePrefix: 'migrator/prod/fleet/' });
    expect(got).toEqual([
      { name: 'acme', secretId: arn('migrator/prod/fleet/acme') },
      { name: 'globex', secretId: arn('migrator/prod/fleet/globex') },
      { name: 'initech', secretId: arn('migrator/prod/fleet/initech') },
    ]);
  });

  it('by tag and value: exact value, name from the migrator:target tag or else the secret name', async () => {
    const got = await listSecretTargets(sm, { secretTag: { key: 'fleet', value: 'tenants' } });
    expect(got).toEqual([
      { name: 'umbrella', secretId: arn('rds!db-1111') },
      { name: 'rds!db-2222', secretId: arn('rds!db-2222') },
    ]);
  });

  it('merge: static and listed together, sorted; the same name with two secrets is refused; bad names are refused', () => {
    const merged = mergeTargets([{ name: 'zeta', secretId: 's/z' }], [{ name: 'acme', secretId: 's/a' }, { name: 'zeta', secretId: 's/z' }]);
    expect(merged.map((t) => t.name)).toEqual(['acme', 'zeta']);
    expect(() => mergeTargets([{ name: 'acme', secretId: 's/a' }], [{ name: 'acme', secretId: 's/other' }])).toThrow(/"acme" is defined twice, with secrets s\/a and s\/other/);
    expect(() => mergeTargets([{ name: 'rds!db-2222', secretId: 'x' }])).toThrow(/Fleet target name "rds!db-2222"/);
  });

  it('retry restriction keeps only the named targets and names any that vanished', () => {
    const all = mergeTargets([{ name: 'a', secretId: '1' }, { name: 'b', secretId: '2' }, { name: 'c', secretId: '3' }]);
    expect(restrictTargets(all, ['c', 'a']).map((t) => t.name)).toEqual(['a', 'c']);
    expect(() => restrictTargets(all, ['a', 'gone'])).toThrow(/Fleet target\(s\) not found: gone/);
  });
});

describe('waves', () => {
  const all = mergeTargets(['d', 'b', 'a', 'c'].map((n) => ({ name: n, secretId: n })));
  it('the first N in name order, or named canaries (which must exist, except in a retry)', () => {
    expect(planWaves(all).canary.map((t) => t.name)).toEqual(['a']);
    expect(planWaves(all, { count: 2 })).toMatchObject({ canary: [{ name: 'a' }, { name: 'b' }], rest: [{ name: 'c' }, { name: 'd' }] });
    expect(planWaves(all, { count: 0 }).canary).toEqual([]);
    expect(planWaves(all, { names: ['c'] })).toMatchObject({ canary: [{ name: 'c' }], rest: [{ name: 'a' }, { name: 'b' }, { name: 'd' }] });
    expect(() => planWaves(all, { names: ['c', 'typo'] })).toThrow(/Canary target\(s\) not in the fleet: typo/);
    expect(planWaves(all.slice(0, 2), { names: ['c'] }, true)).toMatchObject({ canary: [], rest: [{ name: 'a' }, { name: 'b' }] });
  });
});

describe('failure reason', () => {
  const e = (target: string, error: string): LedgerEntry => ({ executionId: 'arn:x', target, secretId: 's', wave: 'rest', runId: 'r', outcome: 'failed', migrationsApplied: [], lastMigration: null, error, durationMs: 1, finishedAt: '' });
  it('names the counts, the first three failures, how many more, and the execution; redacts; stays within its byte budget', () => {
    const entries = [e('t1', "ALTER ROLE x PASSWORD 'hunter2' failed"), e('t2', 'boom'), e('t3', 'x'.repeat(5000)), e('t4', 'late')];
    const reason = fleetReason(summarize('arn:x', entries, 40), 'more targets failed than the fleet tolerates');
    expect(reason).toMatch(/^4 of 40 fleet target\(s\) failed \(more targets failed than the fleet tolerates; 36 not run\): t1: ALTER ROLE x PASSWORD '\*\*\*' failed; t2: boom; t3: x+…; \+1 more\. Execution: arn:x\./);
    expect(reason).not.toContain('hunter2');
    expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(1500);
    const many = Array.from({ length: 50 }, (_, i) => e(`tenant-${i}`, 'é'.repeat(300)));
    expect(Buffer.byteLength(fleetReason(summarize('arn:x', many, 50), undefined, 50))).toBeLessThanOrEqual(1500);
  });
});
