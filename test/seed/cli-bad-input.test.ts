/**
 * Files that must never be read, through the real launcher (`node bin/migrator.mjs seed`), as a user types
 * it: a tenant file linked to /dev/zero (under a small heap, so reading it would crash the process), a
 * catalog linked to a secret file outside the folder (its content must not reach the terminal), a tenant
 * file over the size limit. Each exits 1 naming the file, and the database is unchanged.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cpSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { start, type CliResult } from '../cli/helpers.ts';
import { fakeSecret, fingerprint, seedEnv, type SeedEnv } from './helpers.ts';

/** Long enough for a slow machine; a process that reads /dev/zero would be killed here instead of growing. */
const DEADLINE_MS = 120_000;

describe('migrator seed (real launcher) refuses special files and files outside the folder', () => {
  let env: SeedEnv;
  let pristine: string;
  beforeAll(async () => {
    env = await seedEnv();
    pristine = `${env.seedsDir}-pristine`;
    cpSync(env.seedsDir, pristine, { recursive: true });
  });
  afterAll(async () => {
    rmSync(pristine, { recursive: true, force: true });
    rmSync(`${env.seedsDir}-shadow`, { force: true });
    await env.close();
  });
  beforeEach(() => {
    rmSync(env.seedsDir, { recursive: true, force: true });
    cpSync(pristine, env.seedsDir, { recursive: true });
  });

  async function seedCli(extraEnv: Record<string, string> = {}): Promise<CliResult & { killed: boolean }> {
    const { child, done } = start(['seed', '--stage', 'local', '--seeds-dir', env.seedsDir, '--database-url', env.db.url], {
      ...env.standIn.clientEnv(),
      ...extraEnv,
    });
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, DEADLINE_MS);
    try {
      return { ...(await done), killed };
    } finally {
      clearTimeout(timer);
    }
  }

  it('tenants/zero.yaml -> /dev/zero: exit 1 naming the file, within a 128 MB heap, nothing written', async () => {
    symlinkSync('/dev/zero', join(env.seedsDir, 'tenants', 'zero.yaml'));
    const before = await fingerprint(env.client);
    const r = await seedCli({ NODE_OPTIONS: '--max-old-space-size=128' });
    expect(r.killed, 'the process had to be killed (it kept reading)').toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('tenants/zero.yaml');
    expect(r.stderr).toContain('symbolic link to a file outside its folder');
    expect(r.stderr).toContain('nothing was written');
    expect(r.stderr.length + r.stdout.length).toBeLessThan(4096);
    expect(await fingerprint(env.client)).toEqual(before);
  });

  it('catalog.yaml -> a secret file outside the folder: exit 1, its content never printed, nothing written', async () => {
    const secretLine = `root:${fakeSecret('$6$FAKE-SHADOW$', 40)}:19700:0:99999:7:::`;
    const target = `${env.seedsDir}-shadow`;
    writeFileSync(target, `${secretLine}\nbin:*:19700:0:99999:7:::\n`);
    rmSync(join(env.seedsDir, 'catalog.yaml'));
    symlinkSync(target, join(env.seedsDir, 'catalog.yaml'));
    const before = await fingerprint(env.client);
    const r = await seedCli();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('catalog.yaml');
    expect(r.stderr).toContain('symbolic link to a file outside its folder');
    const printed = r.stdout + r.stderr;
    expect(printed.includes('FAKE-SHADOW')).toBe(false);
    expect(printed).not.toMatch(/root:|bin:\*/);
    expect(await fingerprint(env.client)).toEqual(before);
  });

  it('a provider key pasted into apiKeySecret: exit 1 naming file:line and field, the key never printed or stored', async () => {
    const key = fakeSecret('sk-' + 'proj-', 48);
    const file = join(env.seedsDir, 'tenants', 'vela.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('apiKeySecret: migrator/{stage}/llm/openrouter', `apiKeySecret: ${key}`));
    const before = await fingerprint(env.client);
    const r = await seedCli();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/tenants\/vela\.yaml:\d+ llm\[0\]\.apiKeySecret: the value looks like an OpenAI project API key \(sk-proj-\.\.\.\)/);
    expect((r.stdout + r.stderr).includes(key.slice(8))).toBe(false);
    // Refused before connecting: not even a failed run row (so migration_runs.error cannot hold it).
    expect(await fingerprint(env.client)).toEqual(before);
    const { rows } = await env.client.query(`SELECT count(*)::int AS n FROM public.migration_runs WHERE error LIKE '%' || $1 || '%'`, [key.slice(8)]);
    expect(rows[0].n).toBe(0);
  });

  it('a 10 MB settings value: exit 1, refused by the 1 MB seed file limit before parsing, nothing written', async () => {
    writeFileSync(join(env.seedsDir, 'tenants', 'big.yaml'), `slug: big\nname: Big\nsettings:\n  blob: "${'x'.repeat(10 * 1024 * 1024)}"\n`);
    const before = await fingerprint(env.client);
    const r = await seedCli({ NODE_OPTIONS: '--max-old-space-size=128' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/tenants\/big\.yaml: is larger than the 1\.0 MB limit/);
    expect(r.stderr.length).toBeLessThan(4096);
    expect(await fingerprint(env.client)).toEqual(before);
  });
});
