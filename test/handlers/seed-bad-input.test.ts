/**
 * The deploy function (real bundled asset from `cdk synth`) reads seeds through the same strict loader as
 * the CLI: broken YAML is refused, and a secret pasted where a name belongs is refused without appearing
 * in the CloudFormation reason, any log line or `migration_runs.error`. The seeds are validated before the
 * function connects, so a refused deploy changes no table at all (no migration, no run row).
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, type MigratorAsset } from './support/asset.ts';
import { createEvent, lambdaContext } from './support/lambda.ts';
import { captureOutput, type SimEnv } from './support/sim-env.ts';
import { HandlerTestScope } from './support/scope.ts';
import { fakeSecret, fingerprint } from '../seed/helpers.ts';

type Handler = (event: unknown, context: unknown) => Promise<{ PhysicalResourceId: string }>;

let work: string;
let sim: SimEnv;
let asset: MigratorAsset;
let onEvent: Handler;
let operations: (event: unknown, context: unknown) => Promise<unknown>;
let output: ReturnType<typeof captureOutput>;
const scope = new HandlerTestScope();
const pristine = new Map<string, string>();

beforeAll(async () => {
  work = scope.work('migrator-seed-bad-');
  const seedsDir = join(work, 'seeds');
  cpSync(join(PROJECT_ROOT, 'seeds'), seedsDir, { recursive: true });
  asset = scope.asset({ migrationsDir: join(PROJECT_ROOT, 'migrations'), seedsDir });
  for (const f of ['catalog.yaml', 'tenants/vela.yaml', 'tenants/demo-acme.yaml']) pristine.set(f, readFileSync(join(asset.dir, 'seeds', f), 'utf8'));
  sim = await scope.sim('staging');
  const bundle = await import(/* @vite-ignore */ pathToFileURL(asset.handlerFile).href);
  onEvent = bundle.onEvent as Handler;
  operations = bundle.operations;
  output = scope.capture();
}, 180_000);

afterAll(() => scope.close());

async function deploy(): Promise<Error | undefined> {
  Object.assign(process.env, sim.lambdaEnv(asset));
  return onEvent(createEvent(asset.properties), lambdaContext()).then(
    () => undefined,
    (e: Error) => e,
  );
}

async function lastRun() {
  const { rows } = await sim.client.query(`SELECT outcome, error FROM public.migration_runs ORDER BY started_at DESC LIMIT 1`);
  return rows[0] as { outcome: string; error: string | null };
}

async function allRunErrors(): Promise<string> {
  const { rows } = await sim.client.query(`SELECT coalesce(string_agg(error, E'\\n'), '') AS e FROM public.migration_runs`);
  return rows[0].e as string;
}

const bundled = (file: string) => join(asset.dir, 'seeds', file);

describe('deploy function: bad seed input is refused by the one strict loader', () => {
  it('a good Create migrates and seeds (the baseline)', async () => {
    expect(await deploy()).toBeUndefined();
    expect((await lastRun()).outcome).toBe('succeeded');
  });

  const cases = [
    {
      name: 'an unclosed quote on name: (would swallow kind: demo)',
      file: 'tenants/demo-acme.yaml',
      edit: (t: string) => t.replace('name: Acme Logistics (demo)', 'name: "Acme Logistics (demo)'),
      mentions: [/tenants\/demo-acme\.yaml:\d+/, 'malformed YAML'],
      secret: undefined as string | undefined,
    },
    ...[fakeSecret('sk-' + 'proj-', 48), fakeSecret('AI' + 'za', 35)].map((key) => ({
      name: `a provider key (${key.slice(0, 4)}...) in apiKeySecret`,
      file: 'tenants/vela.yaml',
      edit: (t: string) => t.replace('apiKeySecret: migrator/{stage}/llm/openrouter', `apiKeySecret: ${key}`),
      mentions: [/tenants\/vela\.yaml:\d+ llm\[0\]\.apiKeySecret/, 'not shown'],
      secret: key as string | undefined,
    })),
    {
      name: 'credentials in tools.endpoint',
      file: 'catalog.yaml',
      edit: (t: string) => t.replace('https://erp.example.invalid/api/debt/customer', `https://svc:${fakeSecret('pw', 20)}@erp.example.invalid/api/debt/customer`),
      mentions: [/catalog\.yaml:\d+ tools\[0\]\.endpoint/, 'URL with credentials'],
      secret: fakeSecret('pw', 20),
    },
  ];

  it.each(cases)('$name: the deploy fails naming the file; reason, logs and migration_runs hold no secret; no table changes', async (c) => {
    const text = pristine.get(c.file)!;
    const broken = c.edit(text);
    expect(broken).not.toBe(text);
    writeFileSync(bundled(c.file), broken);
    try {
      const before = await fingerprint(sim.client);
      const logStart = output.text().length;
      const err = await deploy();
      expect(err, 'the deploy must fail').toBeInstanceOf(Error);
      for (const m of c.mentions) {
        if (typeof m === 'string') expect(err!.message).toContain(m);
        else expect(err!.message).toMatch(m);
      }
      // Refused before connecting: no migration ran, no run row was written, every table is as it was.
      expect(await fingerprint(sim.client)).toEqual(before);
      const logs = output.text().slice(logStart);
      expect(logs).toContain('run failed');
      expect(logs).toContain(c.file);
      if (c.secret) {
        for (const [where, t] of [
          ['reason', err!.message],
          ['logs', logs],
          ['migration_runs.error', await allRunErrors()],
        ] as const) {
          expect(t.includes(c.secret), `${where} holds the secret`).toBe(false);
        }
      }
    } finally {
      writeFileSync(bundled(c.file), text);
    }
  });

  it('the operations function (seed action) refuses the same way, before connecting', async () => {
    const file = 'tenants/demo-acme.yaml';
    const text = pristine.get(file)!;
    writeFileSync(bundled(file), text.replace('kind: demo\n', 'kind: demo\nkind: real\n'));
    try {
      const before = await fingerprint(sim.client);
      Object.assign(process.env, sim.lambdaEnv(asset));
      const err = await operations({ action: 'seed', actor: 'test' }, lambdaContext()).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err).toBeInstanceOf(Error);
      expect(err!.message).toMatch(/tenants\/demo-acme\.yaml:\d+: malformed YAML: Map keys must be unique/);
      expect(await fingerprint(sim.client)).toEqual(before);
    } finally {
      writeFileSync(bundled(file), text);
    }
  });

  it('with the files restored, the deploy succeeds again', async () => {
    expect(await deploy()).toBeUndefined();
    expect((await lastRun()).outcome).toBe('succeeded');
  });
});
