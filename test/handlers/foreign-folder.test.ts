/**
 * Deploy simulation with a foreign migrations folder (a platform team's own two SQL migrations, no run
 * history migration of ours, no seeds): the real bundled asset records its deploy runs in the table the
 * engine creates, and the history-based rollback check fires on that history.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MigratorAsset } from './support/asset.ts';
import { createEvent, lambdaContext, SIM_STACK_ID, updateEvent } from './support/lambda.ts';
import { captureOutput, type SimEnv } from './support/sim-env.ts';
import { HandlerTestScope } from './support/scope.ts';

type Handler = (event: unknown, context: unknown) => Promise<{ PhysicalResourceId: string; Data: Record<string, string> }>;

let work: string;
let sim: SimEnv;
let assets: { good: MigratorAsset; broken: MigratorAsset };
let handlers: { good: Handler; broken: Handler };
let output: ReturnType<typeof captureOutput>;
const scope = new HandlerTestScope();

function folder(name: string, files: Record<string, string>): string {
  const dir = join(work, name);
  mkdirSync(dir);
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  return dir;
}

async function invoke(which: keyof typeof handlers, event: unknown, env: Record<string, string> = {}) {
  Object.assign(process.env, sim.lambdaEnv(assets[which], env));
  return handlers[which](event, lambdaContext());
}

const runs = async () =>
  (await sim.client.query('SELECT trigger, command, outcome, content_hash, deploy_nonce FROM public.migration_runs ORDER BY started_at')).rows;

beforeAll(async () => {
  work = scope.work('migrator-foreign-');
  const own = {
    '20240101120000_accounts.sql': '-- Up Migration\nCREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL);\n-- Down Migration\nDROP TABLE accounts;\n',
    '20240102120000_invoices.sql': '-- Up Migration\nCREATE TABLE invoices (id bigint PRIMARY KEY, account_id bigint REFERENCES accounts);\n',
  };
  assets = {
    good: scope.asset({ migrationsDir: folder('good', own) }),
    broken: scope.asset({ migrationsDir: folder('broken', { ...own, '20240103120000_broken.sql': '-- Up Migration\nSELECT 1 / 0;\n' }) }),
  };
  sim = await scope.sim('staging');
  const load = async (a: MigratorAsset) => ((await import(/* @vite-ignore */ pathToFileURL(a.handlerFile).href)) as { onEvent: Handler }).onEvent;
  handlers = { good: await load(assets.good), broken: await load(assets.broken) };
  output = scope.capture();
}, 180_000);

afterAll(() => scope.close());

describe('a foreign migrations folder, deployed', () => {
  let physicalId: string;

  it('Create records a deploy run with its fingerprint in columns', async () => {
    const res = await invoke('good', createEvent(assets.good.properties));
    physicalId = res.PhysicalResourceId;
    expect(res.Data.AppliedCount).toBe('2');
    expect(await runs()).toEqual([
      expect.objectContaining({ trigger: 'deploy', outcome: 'succeeded', content_hash: assets.good.properties.ContentHash, deploy_nonce: assets.good.properties.DeployNonce }),
    ]);
  });

  it('a failing Update is recorded as failed', async () => {
    Object.assign(process.env, sim.lambdaEnv(assets.broken));
    const error = await handlers.broken(updateEvent(physicalId, assets.broken.properties, assets.good.properties), lambdaContext()).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).toContain('20240103120000_broken');
    expect((await runs()).at(-1)).toMatchObject({ outcome: 'failed', content_hash: assets.broken.properties.ContentHash });
  });

  it('the rollback Update is skipped when the stack says it is rolling back', async () => {
    const before = (await runs()).length;
    sim.cloudFormation.setStatus(SIM_STACK_ID, 'UPDATE_ROLLBACK_IN_PROGRESS');
    try {
      const res = await invoke('good', updateEvent(physicalId, assets.good.properties, assets.broken.properties));
      expect(res.Data).toMatchObject({ Skipped: 'rollback', AppliedCount: '0' });
    } finally {
      sim.cloudFormation.setStatus(SIM_STACK_ID, 'UPDATE_IN_PROGRESS');
    }
    expect((await runs()).length).toBe(before);
  });

  it('without the stack status (no CloudFormation endpoint), the rollback is recognised from the run history', async () => {
    const before = (await runs()).length;
    // The function already carries the old content again, so only the history tells this Update is the rollback.
    const res = await invoke('good', updateEvent(physicalId, assets.good.properties, assets.broken.properties), {
      AWS_ENDPOINT_URL_CLOUDFORMATION: 'http://127.0.0.1:9',
    });
    expect(res.Data).toMatchObject({ Skipped: 'rollback', AppliedCount: '0' });
    expect((await runs()).length).toBe(before);
    const skipped = output.lines().filter((l) => l.includes('rollback update: skipped')).map((l) => JSON.parse(l));
    expect(skipped.at(-1).why).toMatch(/last deploy run \(failed\)/);
  });
});
