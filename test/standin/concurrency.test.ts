import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ListSecretsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { startAwsStandIn } from '../../local/aws-standin/index.ts';
import { StateLockTimeoutError } from '../../local/aws-standin/state-lock.ts';

const root = resolve(import.meta.dirname, '../..');
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'standin-lock-'));
  dirs.push(d);
  return d;
}

function writer(stateFile: string, prefix: string, count: number, holdMs = 0) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/standin/fixtures/write-secrets.ts', stateFile, prefix, String(count), String(holdMs)], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const started = new Promise<void>((ok) => child.stdout.on('data', () => out.includes('ready') && ok()));
  const done = new Promise<{ code: number | null; err: string }>((ok) => child.on('close', (code) => ok({ code, err })));
  return { child, started, done };
}

async function secretNames(stateFile: string): Promise<string[]> {
  const standIn = await startAwsStandIn({ stateFile });
  const sm = new SecretsManagerClient({ ...standIn.clientConfig(), maxAttempts: 1 });
  try {
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await sm.send(new ListSecretsCommand({ MaxResults: 100, NextToken: token }));
      names.push(...(page.SecretList ?? []).map((s) => s.Name!));
      token = page.NextToken;
    } while (token);
    return names.sort();
  } finally {
    sm.destroy();
    await standIn.stop();
  }
}

describe('one state file, several processes', () => {
  it('two processes starting the stand-in on one state file at once both keep their secrets', async () => {
    const stateFile = join(tempDir(), 'state.json');
    const a = writer(stateFile, 'a', 15);
    const b = writer(stateFile, 'b', 15);
    const [ra, rb] = await Promise.all([a.done, b.done]);
    expect(ra, ra.err).toMatchObject({ code: 0 });
    expect(rb, rb.err).toMatchObject({ code: 0 });
    const names = await secretNames(stateFile);
    expect(names).toHaveLength(30);
    expect(names.filter((n) => n.startsWith('a/'))).toHaveLength(15);
    expect(names.filter((n) => n.startsWith('b/'))).toHaveLength(15);
    expect(existsSync(`${stateFile}.lock`)).toBe(false);
  });

  it('a second stand-in waits for a live owner, then fails with a clear message when its wait runs out', async () => {
    const stateFile = join(tempDir(), 'state.json');
    const holder = writer(stateFile, 'h', 1, 20_000);
    await holder.started;
    const error = await startAwsStandIn({ stateFile, stateLockWaitMs: 200 }).then(
      async (s) => (await s.stop(), undefined),
      (e: unknown) => e,
    );
    holder.child.kill('SIGKILL');
    await holder.done;
    expect(error).toBeInstanceOf(StateLockTimeoutError);
    expect((error as Error).message).toContain(`pid ${holder.child.pid}`);
    expect((error as Error).message).toContain(stateFile);
    // The killed owner's lock is stale now: the next stand-in takes it over and sees the owner's secret.
    expect(await secretNames(stateFile)).toEqual(['h/0']);
  });

  it('takes over a lock left by a process that is gone, or a half-written lock file', async () => {
    const dir = tempDir();
    const stateFile = join(dir, 'state.json');
    writeFileSync(`${stateFile}.lock`, JSON.stringify({ pid: 2 ** 22 + 12345, started: '1' }));
    expect(await secretNames(stateFile)).toEqual([]);
    writeFileSync(`${stateFile}.lock`, '');
    expect(await secretNames(stateFile)).toEqual([]);
    expect(existsSync(`${stateFile}.lock`)).toBe(false);
  });
});
