/**
 * The deploy function (real bundled asset from `cdk synth`) runs the same migration folder check as the
 * CLI: a pending migration that is wrong is refused before anything runs, the CloudFormation reason names
 * the file, and apart from the failed run's own row in migration_runs (the audit trail) nothing changes.
 * The transaction-control case also proves the bundle loads libpg-query from the asset.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, type MigratorAsset } from './support/asset.ts';
import { createEvent, lambdaContext } from './support/lambda.ts';
import type { SimEnv } from './support/sim-env.ts';
import { HandlerTestScope } from './support/scope.ts';
import { fingerprint } from '../seed/helpers.ts';

type Handler = (event: unknown, context: unknown) => Promise<{ PhysicalResourceId: string }>;

let sim: SimEnv;
let asset: MigratorAsset;
let onEvent: Handler;
const scope = new HandlerTestScope();

beforeAll(async () => {
  asset = scope.asset({ migrationsDir: join(PROJECT_ROOT, 'migrations') });
  sim = await scope.sim('staging');
  onEvent = (await import(/* @vite-ignore */ pathToFileURL(asset.handlerFile).href)).onEvent as Handler;
  scope.capture();
}, 180_000);

afterAll(() => scope.close());

async function deploy(): Promise<Error | undefined> {
  Object.assign(process.env, sim.lambdaEnv(asset));
  return onEvent(createEvent(asset.properties), lambdaContext()).then(() => undefined, (e: Error) => e);
}

async function dataFingerprint() {
  const all = await fingerprint(sim.client);
  delete all['public.migration_runs'];
  return all;
}

describe('deploy function: a bad pending migration is refused before it runs', () => {
  it('a good Create migrates (the baseline)', async () => {
    expect(await deploy()).toBeUndefined();
  });

  it.each([
    { kind: 'Down section without Up section', file: '0100_oops.sql', sql: '-- Down Migration\nDROP TABLE tenants CASCADE;\n', says: /0100_oops\.sql has a "-- Down Migration" section and no "-- Up Migration" section/ },
    { kind: 'COMMIT at the top level', file: '0100_commit.sql', sql: '-- Up Migration\nDELETE FROM tenants;\nCOMMIT;\n', says: /0100_commit\.sql:3: "COMMIT;?": COMMIT at the top level/ },
  ])('$kind: the deploy fails naming the file, no data changes', async (c) => {
    const path = join(asset.dir, 'migrations', c.file);
    writeFileSync(path, c.sql);
    try {
      const before = await dataFingerprint();
      const err = await deploy();
      expect(err, 'the deploy must fail').toBeInstanceOf(Error);
      expect(err!.message).toMatch(c.says);
      expect(err!.message).toMatch(/Refusing to migrate/);
      expect(await dataFingerprint()).toEqual(before);
      expect(Object.keys(await dataFingerprint())).toContain('public.tenants'); // not dropped
    } finally {
      rmSync(path);
    }
  });

  it('with the file gone, the deploy succeeds again', async () => {
    expect(await deploy()).toBeUndefined();
  });
});
