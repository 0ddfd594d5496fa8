/** The seeding commands through the real CLI entry (bin/migrator.ts main), output captured. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { main } from '../../bin/migrator.ts';
import { withSeedAws, awsConfigured } from '../../bin/commands/seed.ts';
import { seedEnv, snapshot, type SeedEnv } from './helpers.ts';
import { createTestDatabase } from '../support/db.ts';

describe('migrator seed / reseed / rotate-key / runs', () => {
  let env: SeedEnv;
  const saved = { ...process.env };
  const output: string[] = [];
  beforeAll(async () => {
    env = await seedEnv();
    Object.assign(process.env, env.standIn.clientEnv());
  });
  afterAll(async () => {
    process.env = saved;
    await env.close();
  });

  async function cli(...args: string[]) {
    let out = '';
    let err = '';
    const seedsDir = args[0] === 'runs' ? [] : ['--seeds-dir', env.seedsDir];
    const code = await main(['node', 'migrator', ...args, '--database-url', env.db.url, ...seedsDir], {
      out: (t) => void (out += t),
      err: (t) => void (err += t),
    });
    output.push(out, err);
    return { code, out, err };
  }

  it('seed --json prints the report; a second seed changes nothing; runs lists both', async () => {
    const first = await cli('seed', '--json');
    expect(first.code).toBe(0);
    const report = JSON.parse(first.out);
    expect(report.counts.tenants).toBe(5);
    expect(report.tables.users.inserted).toBe(13);
    expect(report.keys).toEqual({ encrypted: 5, unchanged: 0, inboundCreated: 5 });

    const second = await cli('seed');
    expect(second.code).toBe(0);
    expect(second.out).toContain('nothing changed');
    expect(second.out).toMatch(/users\s+0\s+0\s+13\s+0\s+13/);

    const runs = await cli('runs', '--json', '--limit', '5');
    expect(runs.code).toBe(0);
    const rows = JSON.parse(runs.out);
    expect(rows).toHaveLength(2);
    expect(rows.map((r: { outcome: string }) => r.outcome)).toEqual(['succeeded', 'succeeded']);
    expect(rows[0].command).toBe('seed --stage local');
    expect(rows[0].seedSummary.rowsWritten).toBe(0);
    expect(rows[1].seedSummary.counts.tenants).toBe(5);
    const text = await cli('runs');
    expect(text.out).toMatch(/succeeded\s+local\s+local\s+seed --stage local/);
  });

  it('runs on a database without a run history: no runs, names the table, creates nothing (as invoke runs)', async () => {
    const empty = await createTestDatabase('runs');
    try {
      let out = '';
      let err = '';
      const code = await main(['node', 'migrator', 'runs', '--database-url', empty.url], { out: (t) => void (out += t), err: (t) => void (err += t) });
      expect(code).toBe(0);
      expect(out).toBe('No runs recorded in public.migration_runs.\n');
      expect(err).toBe('');
      const c = await empty.client();
      expect((await c.query(`SELECT to_regclass('public.migration_runs') AS t`)).rows[0].t).toBeNull();
    } finally {
      await empty.drop();
    }
  });

  it('seed --plan writes nothing and says what would change', async () => {
    const before = await snapshot(env.client);
    writeFileSync(join(env.seedsDir, 'tenants', 'demo-new.yaml'), 'slug: demo-new\nname: New demo\nkind: demo\ninboundApiKey: false\n');
    const plan = await cli('seed', '--plan');
    expect(plan.code).toBe(0);
    expect(plan.out).toContain('Plan (nothing written)');
    expect(plan.out).toContain('insert   tenants demo-new');
    expect(await snapshot(env.client)).toEqual(before);
    rmSync(join(env.seedsDir, 'tenants', 'demo-new.yaml'));
  });

  it('errors: exit 1 with one readable paragraph; nothing written', async () => {
    const before = await snapshot(env.client);
    const prod = await cli('reseed', '--tenant', 'etms', '--reset', '--stage', 'prod');
    expect(prod.code).toBe(1);
    expect(prod.err).toMatch(/Stage "prod" is protected: reseed --reset is refused/);
    const unknown = await cli('seed', '--tenant', 'nope');
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain('unknown tenant "nope"');
    writeFileSync(join(env.seedsDir, 'tenants', 'broken.yaml'), 'slug: broken\nname: Broken\nagnets: []\n');
    const bad = await cli('seed');
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('tenants/broken.yaml:3 agnets: unknown field "agnets"');
    expect(bad.err).not.toContain('    at ');
    rmSync(join(env.seedsDir, 'tenants', 'broken.yaml'));
    const usage = await cli('reseed');
    expect(usage.code).toBe(2);
    expect(await snapshot(env.client)).toEqual(before);
  });

  it('reseed --reset, rotate-key and --confirm', async () => {
    const reset = await cli('reseed', '--tenant', 'demo-acme', '--reset', '--json');
    expect(reset.code).toBe(0);
    expect(JSON.parse(reset.out).reset).toEqual(['demo-acme']);
    const rotate = await cli('rotate-key', '--tenant', 'vela', '--grace-hours', '24');
    expect(rotate.code).toBe(0);
    expect(rotate.out).toMatch(/new key tk_vela_[0-9a-f]{8}\.\.\. issued \(pending\); plaintext in secret migrator\/local\/tenants\/vela\/api-key/);
    expect(rotate.out).toMatch(/valid until 20\d\d-/);
    const confirm = await cli('rotate-key', '--tenant', 'vela', '--confirm', '--json');
    expect(confirm.code).toBe(0);
    expect(JSON.parse(confirm.out).revoked).toHaveLength(1);
    const badGrace = await cli('rotate-key', '--tenant', 'vela', '--grace-hours', '-3');
    expect(badGrace.code).toBe(2);
  });

  it('seed-schema --check passes on the repository schemas', async () => {
    const r = await cli('seed-schema', '--check');
    expect(r.code).toBe(0);
  });

  it('no plaintext key ever reached stdout or stderr', async () => {
    const secrets: string[] = [];
    for (const name of ['migrator/local/llm/google', 'migrator/local/llm/openrouter', ...['etms', 'efms', 'vela', 'demo-acme', 'demo-globex'].map((s) => `migrator/local/tenants/${s}/api-key`)]) {
      secrets.push(JSON.parse((await env.aws.secrets.send(new GetSecretValueCommand({ SecretId: name }))).SecretString!).apiKey);
    }
    const all = output.join('\n');
    expect(all.length).toBeGreaterThan(1000);
    for (const s of secrets) expect(all.includes(s)).toBe(false);
  });
});

describe('withSeedAws (the dev path)', () => {
  it('starts and bootstraps the stand-in with a state file when no AWS is configured', async () => {
    const saved = { ...process.env };
    for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
    const dir = mkdtempSync(join(tmpdir(), 'standin-state-'));
    try {
      expect(awsConfigured()).toBe(false);
      const stateFile = join(dir, 'aws', 'state.json');
      const arn = await withSeedAws('local', { out: () => {}, err: () => {} }, async (aws) => {
        const k = await aws.kms.send(new DescribeKeyCommand({ KeyId: 'alias/migrator-local' }));
        const s = await aws.secrets.send(new GetSecretValueCommand({ SecretId: 'migrator/local/llm/google' }));
        expect(JSON.parse(s.SecretString!).apiKey).toMatch(/NOT-REAL/);
        return k.KeyMetadata!.Arn;
      }, stateFile);
      expect(existsSync(stateFile)).toBe(true);
      // A second start reuses the same key (ciphertexts in .local/pg stay decryptable).
      const again = await withSeedAws('local', { out: () => {}, err: () => {} }, async (aws) =>
        (await aws.kms.send(new DescribeKeyCommand({ KeyId: 'alias/migrator-local' }))).KeyMetadata!.Arn, stateFile);
      expect(again).toBe(arn);
    } finally {
      process.env = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
