/**
 * Bad input of every kind: a clear error naming the file/field/tenant, and the database exactly as it
 * was (a fingerprint of every table, a row-by-row dump of the public ones, plus write counters). The
 * cases are one table; the first test states how many kinds it covers, by name.
 */
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { DescribeKeyCommand, DisableKeyCommand, EnableKeyCommand } from '@aws-sdk/client-kms';
import { seed, SeedError, SeedValidationError, ProtectedStageError } from '../../functions/core/seed/index.ts';
import { editYaml, fakeSecret, fingerprint, seedEnv, snapshot, writeCounters, SEEDS, type SeedEnv } from './helpers.ts';

interface Case {
  name: string;
  /** The issue item it answers (e.g. "7.1"), for the closing note. */
  item?: string;
  /** Breaks the scratch seeds folder or the stand-in. */
  arrange(env: SeedEnv): Promise<void> | void;
  error: new (...args: any[]) => Error;
  /** Every one of these must appear in the message. */
  mentions: (string | RegExp)[];
  /** A value that must appear nowhere: not in the error, its issues, a log line or the database. */
  secret?: string;
  stage?: string;
  /** Restrict the run to these tenants. */
  tenants?: string[];
}

const setFile = (env: SeedEnv, file: string, text: string | Buffer) => writeFileSync(join(env.seedsDir, file), text);
const replaceIn = (env: SeedEnv, file: string, from: string | RegExp, to: string) => {
  const text = readFileSync(join(env.seedsDir, file), 'utf8');
  const next = text.replace(from, to);
  if (next === text) throw new Error(`arrange: ${String(from)} not found in ${file}`);
  setFile(env, file, next);
};
/** A place outside the seeds folder (cleaned up with it: a sibling of the scratch folder). */
const outside = (env: SeedEnv, name: string) => `${env.seedsDir}-outside-${name}`;

// Clearly fake values of real secret shapes, made at run time (no key-shaped literal in the repository).
const FAKE = {
  openaiProject: fakeSecret('sk-' + 'proj-', 48),
  anthropic: fakeSecret('sk-' + 'ant-api03-', 40),
  openai: fakeSecret('sk-', 40),
  awsKeyId: fakeSecret('AK' + 'IA', 16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'),
  google: fakeSecret('AI' + 'za', 35),
  github: fakeSecret('gh' + 'p_', 36),
  slack: fakeSecret('xo' + 'xb-', 40),
  random: fakeSecret('', 40),
  urlPassword: fakeSecret('pw', 20),
  urlToken: fakeSecret('tok', 24),
  shadow: `root:${fakeSecret('$6$FAKE-SHADOW$', 40)}:19700:0:99999:7:::`,
};
const secretName = (value: string): Case['arrange'] => (env) => editYaml(env.seedsDir, 'tenants/vela.yaml', (t) => void (t.llm[0].apiKeySecret = value));
const nameFieldCase = (label: string, value: string, looksLike: RegExp): Case => ({
  name: `apiKeySecret holds ${label} instead of a secret name`,
  item: '7.8',
  arrange: secretName(value),
  error: SeedValidationError,
  mentions: ['tenants/vela.yaml:', 'llm[0].apiKeySecret', looksLike, 'not shown'],
  secret: value,
});

const cases: Case[] = [
  {
    name: 'malformed YAML: an unclosed [',
    item: '7.1',
    arrange: (env) => setFile(env, 'tenants/vela.yaml', 'slug: vela\nname: [unclosed\nusers:\n  - email: a@b.c\n'),
    error: SeedValidationError,
    mentions: ['tenants/vela.yaml', 'malformed YAML', /:\d+/],
  },
  {
    // The quote swallows `kind: demo`; a silent parse made demo-acme a real tenant of prod.
    name: 'malformed YAML: an unclosed quote on name: (demo tenant would reach prod)',
    item: '7.1',
    arrange: (env) => replaceIn(env, 'tenants/demo-acme.yaml', 'name: Acme Logistics (demo)', 'name: "Acme Logistics (demo)'),
    stage: 'prod',
    error: SeedValidationError,
    mentions: [/tenants\/demo-acme\.yaml:\d+/, 'malformed YAML', 'quote'],
  },
  {
    name: 'duplicate key kind: (last value would win)',
    item: '7.1',
    arrange: (env) => replaceIn(env, 'tenants/demo-acme.yaml', 'kind: demo\n', 'kind: demo\nkind: real\n'),
    stage: 'prod',
    error: SeedValidationError,
    mentions: ['tenants/demo-acme.yaml:6', 'Map keys must be unique'],
  },
  {
    name: 'duplicate key name:',
    item: '7.1',
    arrange: (env) => replaceIn(env, 'tenants/etms.yaml', 'name: eTMS\n', 'name: eTMS\nname: Other\n'),
    error: SeedValidationError,
    mentions: ['tenants/etms.yaml:5', 'Map keys must be unique'],
  },
  {
    name: 'duplicate key spelt two ways (1: and "1":)',
    item: '7.1',
    arrange: (env) => replaceIn(env, 'tenants/etms.yaml', 'agents:', 'settings:\n  1: a\n  "1": b\nagents:'),
    error: SeedValidationError,
    mentions: ['tenants/etms.yaml:', 'Map keys must be unique'],
  },
  {
    name: 'two YAML documents in one file',
    item: '7.1',
    arrange: (env) => replaceIn(env, 'stages.yaml', 'stages:', '---\nstages: {}\n---\nstages:'),
    error: SeedValidationError,
    mentions: ['stages.yaml:', 'malformed YAML', 'multiple documents'],
  },
  {
    name: 'unknown YAML tag !!js/function',
    item: '7.8',
    arrange: (env) => replaceIn(env, 'tenants/etms.yaml', 'region: primary', 'region: !!js/function "function () { return 1 }"'),
    error: SeedValidationError,
    mentions: ['tenants/etms.yaml:6', 'unsupported YAML tag', 'js/function'],
  },
  {
    name: 'custom YAML tag (!secret)',
    item: '7.8',
    arrange: (env) => replaceIn(env, 'catalog.yaml', 'provider: google', 'provider: !secret google'),
    error: SeedValidationError,
    mentions: [/catalog\.yaml:\d+/, 'unsupported YAML tag', '!secret'],
  },
  {
    name: 'alias without its anchor',
    item: '7.1',
    arrange: (env) => replaceIn(env, 'tenants/etms.yaml', 'region: primary', 'region: *nowhere'),
    error: SeedValidationError,
    mentions: ['tenants/etms.yaml', 'malformed YAML', 'nowhere'],
  },
  {
    name: 'YAML alias bomb (billion laughs)',
    item: '7.10',
    arrange(env) {
      const lines = ['slug: vela', 'name: Vela', 'a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
      for (let i = 1; i < 9; i++) lines.push(`a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(', ')}]`);
      setFile(env, 'tenants/vela.yaml', lines.join('\n') + '\n');
    },
    error: SeedValidationError,
    mentions: ['tenants/vela.yaml', 'malformed YAML', /alias/i],
  },
  {
    name: 'not UTF-8 (a Latin-1 é in a tenant file)',
    item: '7.4',
    arrange: (env) => setFile(env, 'tenants/vela.yaml', Buffer.concat([Buffer.from('slug: vela\nname: Vela Caf'), Buffer.from([0xe9]), Buffer.from('\n')])),
    error: SeedValidationError,
    mentions: ['tenants/vela.yaml:2', 'not valid UTF-8'],
  },
  {
    name: 'catalog.yaml is a symlink to a file outside the folder (/etc/shadow-like)',
    item: '7.7',
    arrange(env) {
      const target = outside(env, 'shadow');
      writeFileSync(target, `${FAKE.shadow}\n`);
      rmSync(join(env.seedsDir, 'catalog.yaml'));
      symlinkSync(target, join(env.seedsDir, 'catalog.yaml'));
    },
    error: SeedValidationError,
    mentions: ['catalog.yaml', 'symbolic link to a file outside its folder'],
    secret: FAKE.shadow,
  },
  {
    name: 'tenants/zero.yaml is a symlink to /dev/zero',
    item: '7.7',
    arrange: (env) => symlinkSync('/dev/zero', join(env.seedsDir, 'tenants/zero.yaml')),
    error: SeedValidationError,
    mentions: ['tenants/zero.yaml', 'symbolic link'],
  },
  {
    name: 'a named pipe as a tenant file',
    item: '7.7',
    arrange: (env) => void execFileSync('mkfifo', [join(env.seedsDir, 'tenants/pipe.yaml')]),
    error: SeedValidationError,
    mentions: ['tenants/pipe.yaml', 'not a regular file (a named pipe)'],
  },
  {
    name: 'a folder named like a tenant file',
    item: '7.7',
    arrange: (env) => mkdirSync(join(env.seedsDir, 'tenants/folder.yaml')),
    error: SeedValidationError,
    mentions: ['tenants/folder.yaml', 'not a regular file (a directory)'],
  },
  {
    name: 'the tenants folder is a symlink out of the seeds folder',
    item: '7.7',
    arrange(env) {
      const target = outside(env, 'tenants');
      cpSync(join(env.seedsDir, 'tenants'), target, { recursive: true });
      rmSync(join(env.seedsDir, 'tenants'), { recursive: true });
      symlinkSync(target, join(env.seedsDir, 'tenants'));
    },
    error: SeedValidationError,
    mentions: ['tenants/', 'symbolic link to a folder outside the seeds folder'],
  },
  {
    name: 'the tenants folder is a dangling symlink (would silently mean no tenants)',
    item: '7.7',
    arrange(env) {
      rmSync(join(env.seedsDir, 'tenants'), { recursive: true });
      symlinkSync(outside(env, 'tenants'), join(env.seedsDir, 'tenants'));
    },
    error: SeedValidationError,
    mentions: ['tenants/', 'symbolic link whose target does not exist'],
  },
  {
    name: 'a tenant file with an upper-case extension (.YAML would be skipped)',
    item: '7.6',
    arrange: (env) => setFile(env, 'tenants/newco.YAML', 'slug: newco\nname: NewCo\n'),
    error: SeedValidationError,
    mentions: ['tenants/newco.YAML', 'lowercase .yaml'],
  },
  {
    name: 'a 10 MB settings value (over the 1 MB seed file limit)',
    item: '7.7',
    arrange: (env) => editYaml(env.seedsDir, 'tenants/etms.yaml', (t) => void (t.settings = { blob: 'x'.repeat(10 * 1024 * 1024) })),
    error: SeedValidationError,
    mentions: ['tenants/etms.yaml', 'larger than the 1.0 MB limit'],
  },
  {
    name: 'tools.endpoint with credentials (https://user:pass@host)',
    item: '7.5',
    arrange: (env) => replaceIn(env, 'catalog.yaml', 'https://erp.example.invalid/api/debt/salesman', `https://svc:${FAKE.urlPassword}@erp.example.invalid/api/debt/salesman`),
    error: SeedValidationError,
    mentions: [/catalog\.yaml:\d+ tools\[1\]\.endpoint/, 'URL with credentials', 'not shown'],
    secret: FAKE.urlPassword,
  },
  {
    name: 'tools.endpoint with a token in its query string',
    item: '7.5',
    arrange: (env) => replaceIn(env, 'catalog.yaml', 'https://tms.example.invalid/api/shipments/track', `https://tms.example.invalid/api/shipments/track?api_key=${FAKE.urlToken}`),
    error: SeedValidationError,
    mentions: [/catalog\.yaml:\d+ tools\[2\]\.endpoint/, 'credential in its query string (?api_key=...)'],
    secret: FAKE.urlToken,
  },
  nameFieldCase('an OpenAI project key (sk-proj-...)', FAKE.openaiProject, /OpenAI project API key \(sk-proj-\.\.\.\)/),
  nameFieldCase('an Anthropic key (sk-ant-...)', FAKE.anthropic, /Anthropic API key/),
  nameFieldCase('a provider key (sk-...)', FAKE.openai, /provider API key \(sk-\.\.\.\)/),
  nameFieldCase('an AWS access key id (AKIA...)', FAKE.awsKeyId, /AWS access key id/),
  nameFieldCase('a Google API key (AIza...)', FAKE.google, /Google API key/),
  nameFieldCase('a GitHub token (ghp_...)', FAKE.github, /GitHub token/),
  nameFieldCase('a Slack token (xox...)', FAKE.slack, /Slack token/),
  nameFieldCase('a long random-looking string', FAKE.random, /random-looking string/),
  {
    name: 'kmsKeyId in stages.yaml holds a provider key',
    item: '7.8',
    arrange: (env) => replaceIn(env, 'stages.yaml', 'kmsKeyId: alias/migrator-local', `kmsKeyId: ${FAKE.openai}`),
    error: SeedValidationError,
    mentions: [/stages\.yaml:\d+ stages\.local\.kmsKeyId/, 'provider API key', 'not shown'],
    secret: FAKE.openai,
  },
  {
    name: 'a provider key in free-form settings',
    item: '7.8',
    arrange: (env) => editYaml(env.seedsDir, 'tenants/efms.yaml', (t) => void (t.settings = { openai: FAKE.openaiProject })),
    error: SeedValidationError,
    mentions: [/tenants\/efms\.yaml:\d+ settings\.openai/, 'OpenAI project API key', 'never hold secrets'],
    secret: FAKE.openaiProject,
  },
  {
    name: 'a provider key used as an agent name (would be quoted by the reference check)',
    item: '7.8',
    arrange: (env) => editYaml(env.seedsDir, 'tenants/efms.yaml', (t) => void t.agents.push(FAKE.google)),
    error: SeedValidationError,
    mentions: [/tenants\/efms\.yaml:\d+ agents\[4\]/, 'Google API key'],
    secret: FAKE.google,
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
    mentions: [/tenants\/vela\.yaml:\d+ llm\[0\]\.apiKeySecret: secret "migrator\/local\/llm\/nope" \(tenant "vela"\) does not exist/, 'Create it with {"apiKey": "..."}'],
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
    for (const n of ['shadow', 'tenants']) rmSync(outside(env, n), { recursive: true, force: true });
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

  // The count the closing note quotes: every kind below is refused with nothing written.
  it(`covers ${cases.length} kinds of bad input, each named once`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    expect(SEEDS).toMatch(/seeds$/);
  });

  it.each(cases)('$name', async (c) => {
    // A half-seeded database: the three real tenants exist, so failures happen amid real changes.
    await seed(env.client, { stage: 'local', dir: env.seedsDir, aws: env.aws, tenants: ['efms'] });
    await c.arrange(env);
    const before = await snapshot(env.client);
    const print = await fingerprint(env.client);
    const writesBefore = await writeCounters(env.client);
    const logged: string[] = [];
    const run = seed(env.client, {
      stage: c.stage ?? 'local',
      dir: env.seedsDir,
      aws: env.aws,
      log: (line) => void logged.push(line),
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
    if (c.secret) {
      const everything = [err!.message, err!.stack ?? '', JSON.stringify(err), ...logged].join('\n');
      expect(everything.includes(c.secret), 'the secret value is echoed').toBe(false);
      // Not even a fragment of it (a message that quoted part of the value).
      expect(everything.includes(c.secret.slice(-12)), 'part of the secret value is echoed').toBe(false);
    }
    expect(await fingerprint(env.client)).toEqual(print);
    expect(await snapshot(env.client)).toEqual(before);
    const writesAfter = await writeCounters(env.client);
    // Rolled-back rows still count as tuples written; what matters is that the rows are identical
    // (above) and that the validation errors did not even get to the database:
    if (c.error === SeedValidationError || c.error === ProtectedStageError) expect(writesAfter).toEqual(writesBefore);
  });

  it('a throttle or two is retried by the SDK and the seed succeeds', async () => {
    env.standIn.inject('TrentService.Encrypt', 'ThrottlingException', 1);
    const s = await seed(env.client, { stage: 'local', dir: env.seedsDir, aws: env.aws, tenants: ['vela'] });
    expect(s.keys.encrypted).toBe(1);
    expect(env.standIn.callCount('TrentService.Encrypt')).toBeGreaterThanOrEqual(2);
  });
});
