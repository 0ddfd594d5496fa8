/**
 * Fleets over ~2,000 targets (issue 13, "target lists over the 256 KiB state limit"): the bundled list step
 * writes each wave's targets to S3 through a real S3 client (path-style, to the local stand-in) and returns
 * only the lists' keys and counts, which the Distributed Maps' ItemReader reads (template: construct.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Client } from '@aws-sdk/client-s3';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { S3TargetLists } from '../../functions/core/fleet/target-lists.ts';
import { startAwsJsonStandIn, type AwsJsonStandIn } from './support/aws-json-standin.ts';
import { setEnv } from './support/fleet-env.ts';
import { synthFleet, type SynthesizedFleet } from './support/stack.ts';

const PREFIX = 'migrator/staging/fleet/';
const COUNT = 2_500;
let s: SynthesizedFleet;
let aws: AwsJsonStandIn;
let restore: () => void;
let s3: S3Client;

beforeAll(async () => {
  s = synthFleet({ migrationsDir: fileURLToPath(new URL('./fixtures/migrations', import.meta.url)), canary: { count: 3 } });
  aws = await startAwsJsonStandIn({ pageSize: 100 });
  // Long names and ARNs, as real ones are: inline, these lists would take about 450 KiB of state.
  for (let i = 0; i < COUNT; i++) {
    const name = `tenant-${String(i).padStart(5, '0')}-workspace-of-a-customer-with-a-long-name`;
    aws.secrets.push({ Name: `${PREFIX}${name}`, ARN: `arn:aws:secretsmanager:us-east-1:000000000000:secret:${PREFIX}${name}-AbCdEf` });
  }
  restore = setEnv({ ...aws.env, STAGE: 'staging', TARGET_SECRET_PREFIX: PREFIX, CANARY_COUNT: '3', TARGETS_BUCKET: 'fleet-target-lists' });
  s3 = new S3Client({ endpoint: aws.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'AKIDLOCALFLEETTEST', secretAccessKey: 'local' } });
}, 300_000);
afterAll(async () => {
  restore?.();
  s3?.destroy();
  await aws?.stop();
  s?.cleanup();
});

describe('list step with more targets than the state could hold', () => {
  it(`${COUNT} targets: both waves in S3 as JSON arrays, the state holds keys and counts only`, async () => {
    const bundle = await import(join(s.assetDir, 'index.mjs'));
    const executionId = 'arn:aws:states:us-east-1:000000000000:execution:Fleet:deploy-2026-12-01T10-00-00-000Z-abc123';
    const list = bundle.createListTargets({ lists: new S3TargetLists({ bucket: 'fleet-target-lists', client: s3 }) });
    const result = await list({ input: { trigger: 'deploy' }, executionId });
    expect(result).toEqual({
      trigger: 'deploy',
      total: COUNT,
      canary: { bucket: 'fleet-target-lists', key: 'deploy-2026-12-01T10-00-00-000Z-abc123/canary.json', count: 3 },
      rest: { bucket: 'fleet-target-lists', key: 'deploy-2026-12-01T10-00-00-000Z-abc123/rest.json', count: COUNT - 3 },
      failure: null,
      failedWave: null,
    });
    expect(Buffer.byteLength(JSON.stringify(result))).toBeLessThan(1024);
    const read = (key: string) => JSON.parse(aws.objects.get(`fleet-target-lists/${key}`)!.body) as Array<{ name: string; secretId: string }>;
    const canary = read(result.canary.key);
    const rest = read(result.rest.key);
    expect(canary.map((t) => t.name)).toEqual([0, 1, 2].map((i) => `tenant-${String(i).padStart(5, '0')}-workspace-of-a-customer-with-a-long-name`));
    expect(rest).toHaveLength(COUNT - 3);
    expect(rest[0]).toEqual({ name: `tenant-00003-workspace-of-a-customer-with-a-long-name`, secretId: `arn:aws:secretsmanager:us-east-1:000000000000:secret:${PREFIX}tenant-00003-workspace-of-a-customer-with-a-long-name-AbCdEf` });
    // Every target once, across the two waves, in name order.
    const all = [...canary, ...rest].map((t) => t.name);
    expect(new Set(all).size).toBe(COUNT);
    expect(all).toEqual([...all].sort());
    // What the old inline state would have needed: over Step Functions' 256 KiB.
    expect(Buffer.byteLength(JSON.stringify({ canary, rest }))).toBeGreaterThan(256 * 1024);
    expect(aws.objects.get(`fleet-target-lists/${result.rest.key}`)!.contentType).toBe('application/json');
  }, 120_000);

  it('a retry of a few targets writes only those; an empty wave is an empty list', async () => {
    const bundle = await import(join(s.assetDir, 'index.mjs'));
    const executionId = 'arn:aws:states:us-east-1:000000000000:execution:Fleet:retry-1';
    const only = ['tenant-00100-workspace-of-a-customer-with-a-long-name', 'tenant-02000-workspace-of-a-customer-with-a-long-name'];
    const result = await bundle.createListTargets({ lists: new S3TargetLists({ bucket: 'fleet-target-lists', client: s3 }) })({ input: { trigger: 'invoke', only }, executionId });
    expect(result).toMatchObject({ total: 2, canary: { count: 2 }, rest: { count: 0 } });
    expect(JSON.parse(aws.objects.get(`fleet-target-lists/${result.rest.key}`)!.body)).toEqual([]);
  }, 120_000);
});
