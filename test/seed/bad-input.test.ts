/**
 * Bad input of every kind: a clear error naming the file/field/tenant, and the database exactly as it
 * was (compared row by row over every table, plus write counters).
 */
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpSync, rmSync } from 'node:fs';
import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { DescribeKeyCommand, DisableKeyCommand, EnableKeyCommand } from '@aws-sdk/client-kms';
import { seed, SeedError, SeedValidationError, ProtectedStageError } from '../../functions/core/seed/index.ts';
import { editYaml, seedEnv, snapshot, writeCounters, SEEDS, type SeedEnv } from './helpers.ts';

interface Case {
  name: string;
  /** Breaks the scratch seeds folder or the stand-in. */
  arrange(env: SeedEnv): Promise<void> | void;
  error: new (...args: any[]) => Error;
  /** Every one of these must appear in the message. */
  mentions: (string | RegExp)[];
  stage?: string;
  /** Restrict the run to these tenants. */
  tenants?: string[];
}

const setFile = (env: SeedEnv, file: string, text: string) => writeFileSync(join(env.seedsDir, file), text);

const cases: Case[] = [
  {
    name: 'malformed YAML',
    arrange: (env) => setFile(env, 'tenants/vela.yaml', 'slug: vela\nname: [unclosed\nusers:\n  - email: a@b.c\n'),
    error: SeedValidationError,
    mentions: ['tenants/vela.yaml', 'malformed YAML', /:\d+/],
  },
  {
    name: 'unknown field (strict)',
    arrange: (env) => editYaml(env.seedsDir, 'tenants/etms.yaml', (t) => void (t.users[1].password = 'x')),
    error: SeedValidationError,
    mentions: ['tenants/etms.yaml', 'users[1].password', 'unknown field "password"'],
  },
  {
    name: 'duplicate tenant slug',
    arrange: (env) => setFile(env, 'tenants/etms-copy.yaml', readFileSync(join(env.seedsDir, 'tenants/etms.yaml'), 'utf8')),
    error: SeedValidationError,
    mentions: ['tenants/etms-copy.yaml', 'duplicate tenant slug "etms"'],
  },
  {
    name: 'unknown agent reference',
    arrange: (env) => editYaml(env.seedsDir, 'tenants/efms.yaml', (t) => void t.agents.push('BillingAgent')),
    error: SeedValidationError,
    mentions: ['tenants/efms.yaml', 'agents[4]', 'tenant "efms"', 'unknown agent "BillingAgent"'],
  },
  {
    name: 'unknown model reference',
    arrange: (env) => editYaml(env.seedsDir, 'tenants/vela.yaml', (t) => void (t.llm[0].model = 'gpt-9')),
    error: SeedValidationError,
    mentions: ['tenants/vela.yaml', 'llm[0].model', 'unknown model "gpt-9"'],
  },
  {
    name: 'unknown tool in the catalog',
    arrange: (env) => editYaml(env.seedsDir, 'catalog.yaml', (c) => void c.agents[0].tools.push('send_fax')),
    error: SeedValidationError,
    mentions: ['catalog.yaml', 'agents[0].tools[1]', 'unknown tool "send_fax"'],
  },
  {
    name: 'duplicate user email (case-insensitive)',
    arrange: (env) => editYaml(env.seedsDir, 'tenants/etms.yaml', (t) => void t.users.push({ email: 'ADMIN@etms.local', role: 'member' })),
    error: SeedValidationError,
    mentions: ['tenants/etms.yaml', 'users[3].email', 'duplicate user email "admin@etms.local"'],
  },
  {
    name: 'invalid email and role',
    arrange: (env) => editYaml(env.seedsDir, 'tenants/etms.yaml', (t) => void t.users.push({ email: 'not-an-email', role: 'root' })),
    error: SeedValidationError,
    mentions: ['tenants/etms.yaml', 'users[3].email', 'users[3].role'],
  },
  {
    name: 'unknown stage',
    arrange: () => {},
    stage: 'qa',
    error: SeedValidationError,
    mentions: ['stages.yaml', 'unknown stage "qa"', 'local, staging, prod'],
  },
  {
    name: 'a secret value written into a seed file (apiKey is not a field)',
    arrange: (env) => editYaml(env.seedsDir, 'tenants/etms.yaml', (t) => void (t.llm[0].apiKey = 'sk-live-123')),
    error: SeedValidationError,
    mentions: ['tenants/etms.yaml', 'llm[0].apiKey', 'unknown field'],
  },
  {
    name: 'missing secret',
    arrange: (env) => editYaml(env.seedsDir, 'tenants/vela.yaml', (t) => void (t.llm[0].apiKeySecret = 'migrator/{stage}/llm/nope')),
    error: SeedError,
    mentions: ['migrator/local/llm/nope', 'tenant "vela"', 'does not exist'],
  },
  {
    name: 'wrong secret JSON shape',
    async arrange(env) {
      await env.aws.secrets.send(new CreateSecretCommand({ Name: 'migrator/local/llm/vela-bad', SecretString: JSON.stringify({ key: 'fake-NOT-REAL-123456' }) }));
      editYaml(env.seedsDir, 'tenants/vela.yaml', (t) => void (t.llm[0].apiKeySecret = 'migrator/local/llm/vela-bad'));
    },
    error: SeedError,
    mentions: ['migrator/local/llm/vela-bad', 'tenant "vela"', 'wrong shape', '{"apiKey": "..."}', 'apiKey'],
  },
  {
    name: 'secret that is not JSON',
    async arrange(env) {
      await env.aws.secrets.send(new PutSecretValueCommand({ SecretId: 'migrator/local/llm/google', SecretString: 'plain-text-NOT-REAL-key' }));
    },
    error: SeedError,
    mentions: ['migrator/local/llm/google', 'tenants "demo-globex", "etms"', 'not JSON'],
  },
  {
    name: 'disabled KMS key',
    async arrange(env) {
      // A provider secret under Secrets Manager's own key, so reading it works and Encrypt is what fails.
      await env.aws.secrets.send(new CreateSecretCommand({ Name: 'migrator/local/llm/vela-own', SecretString: JSON.stringify({ apiKey: 'fake-vela-NOT-REAL-1234' }) }));
      editYaml(env.seedsDir, 'tenants/vela.yaml', (t) => void (t.llm[0].apiKeySecret = 'migrator/local/llm/vela-own'));
      editYaml(env.seedsDir, 'stages.yaml', (s) => void (s.stages.local.kmsKeyId = 'alias/migrator-local'));
      const key = await env.aws.kms.send(new DescribeKeyCommand({ KeyId: 'alias/migrator-local' }));
      await env.aws.kms.send(new DisableKeyCommand({ KeyId: key.KeyMetadata!.KeyId! }));
    },
    error: SeedError,
    mentions: ['DisabledException', 'KMS Encrypt with key "alias/migrator-local"', 'tenant "vela"', 'disabled'],
    tenants: ['vela'],
  },
  {
    name: 'KMS throttling beyond the SDK retries',
    arrange: (env) => env.standIn.inject('TrentService.Encrypt', 'ThrottlingException', 1000),
    error: SeedError,
    mentions: ['ThrottlingException', 'nothing was written', /tenant "[a-z-]+"/],
  },
  {
    name: 'reset on a protected stage',
    arrange: () => {},
    stage: 'prod',
    error: ProtectedStageError,
    mentions: ['prod', 'protected', 'reset'],
  },
];

describe('seed: bad input is reported clearly and writes nothing', () => {
  let env: SeedEnv;
  let pristine: string;
  beforeAll(async () => {
    env = await seedEnv({ maxAttempts: 2 });
    pristine = env.seedsDir + '-pristine';
    cpSync(env.seedsDir, pristine, { recursive: true });
  });
  afterAll(async () => {
    rmSync(pristine, { recursive: true, force: true });
    await env.close();
  });
  beforeEach(() => {
    rmSync(env.seedsDir, { recursive: true, force: true });
    cpSync(pristine, env.seedsDir, { recursive: true });
  });
  afterEach(async () => {
    env.standIn.clearInjections();
    const key = await env.aws.kms.send(new DescribeKeyCommand({ KeyId: 'alias/migrator-local' }));
    await env.aws.kms.send(new EnableKeyCommand({ KeyId: key.KeyMetadata!.KeyId! }));
    await env.aws.secrets.send(
      new PutSecretValueCommand({ SecretId: 'migrator/local/llm/google', SecretString: JSON.stringify({ apiKey: 'fake-dev-google-key-NOT-REAL' }) }),
    );
  });

  it('has at least ten kinds of bad input', () => {
    expect(cases.length).toBeGreaterThanOrEqual(10);
    expect(SEEDS).toMatch(/seeds$/);
  });

  for (const c of cases) {
    it(c.name, async () => {
      // A half-seeded database: the three real tenants exist, so failures happen amid real changes.
      await seed(env.client, { stage: 'local', dir: env.seedsDir, aws: env.aws, tenants: ['efms'] });
      await c.arrange(env);
      const before = await snapshot(env.client);
      const writesBefore = await writeCounters(env.client);
      const run = seed(env.client, {
        stage: c.stage ?? 'local',
        dir: env.seedsDir,
        aws: env.aws,
        ...(c.tenants ? { tenants: c.tenants } : {}),
        ...(c.name.startsWith('reset') ? { reset: ['etms'], tenants: ['etms'] } : {}),
      });
      const err = await run.then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err, 'the run must fail').toBeInstanceOf(c.error);
      for (const m of c.mentions) {
        if (typeof m === 'string') expect(err!.message).toContain(m);
        else expect(err!.message).toMatch(m);
      }
      expect(await snapshot(env.client)).toEqual(before);
      const writesAfter = await writeCounters(env.client);
      // Rolled-back rows still count as tuples written; what matters is that the rows are identical
      // (above) and that the validation errors did not even get to the database:
      if (c.error === SeedValidationError || c.error === ProtectedStageError) expect(writesAfter).toEqual(writesBefore);
    });
  }

  it('a throttle or two is retried by the SDK and the seed succeeds', async () => {
    env.standIn.inject('TrentService.Encrypt', 'ThrottlingException', 1);
    const s = await seed(env.client, { stage: 'local', dir: env.seedsDir, aws: env.aws, tenants: ['vela'] });
    expect(s.keys.encrypted).toBe(1);
    expect(env.standIn.callCount('TrentService.Encrypt')).toBeGreaterThanOrEqual(2);
  });
});
