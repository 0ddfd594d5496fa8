import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DecryptCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { DEV_CREDENTIALS } from '../../local/aws-standin/index.ts';

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Starts main.ts and resolves with its endpoint and everything it printed so far. */
function startMain(args: string[]): Promise<{ child: ChildProcess; endpoint: string; output: () => string }> {
  const child = spawn(process.execPath, ['--no-warnings', '--import', 'tsx', 'local/aws-standin/main.ts', ...args], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /export AWS_ENDPOINT_URL_KMS=(\S+)/.exec(out);
      if (m && out.includes('export AWS_REGION=')) resolve({ child, endpoint: m[1]!, output: () => out });
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => reject(new Error(`main.ts exited with ${code}: ${out}`)));
  });
}

const stop = (child: ChildProcess): Promise<number | null> =>
  new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });

describe('standalone stand-in (local/aws-standin/main.ts)', () => {
  it('bootstraps the dev key, keeps state across restarts, and prints no secret', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'standin-main-'));
    dirs.push(dir);
    const stateFile = join(dir, 'state.json');
    const first = await startMain(['--state-file', stateFile]);
    expect(first.output()).toContain('dev key alias/migrator-local');
    const kms = new KMSClient({ endpoint: first.endpoint, region: 'us-east-1', credentials: { ...DEV_CREDENTIALS }, maxAttempts: 1 });
    const enc = await kms.send(new EncryptCommand({ KeyId: 'alias/migrator-local', Plaintext: Buffer.from('kept'), EncryptionContext: { tenant: 'x' } }));
    kms.destroy();
    expect(await stop(first.child)).toBe(0);
    expect(statSync(stateFile).size).toBeGreaterThan(0);

    const second = await startMain(['--state-file', stateFile]);
    expect(second.output()).not.toContain('(created)');
    const kms2 = new KMSClient({ endpoint: second.endpoint, region: 'us-east-1', credentials: { ...DEV_CREDENTIALS }, maxAttempts: 1 });
    const dec = await kms2.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { tenant: 'x' } }));
    expect(Buffer.from(dec.Plaintext!).toString()).toBe('kept');
    kms2.destroy();
    expect(await stop(second.child)).toBe(0);
    const printed = first.output() + second.output();
    expect(printed).not.toContain(DEV_CREDENTIALS.secretAccessKey);
    expect(printed).not.toContain('fake-dev-google-key-NOT-REAL');
  });
});

describe('bundle boundary', () => {
  it('nothing under functions/ imports the stand-in (it must never reach a Lambda bundle)', () => {
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      if (!existsSync(dir)) return;
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (/\.(ts|mts|js|mjs)$/.test(entry.name) && /aws-standin/.test(readFileSync(path, 'utf8'))) offenders.push(relative(process.cwd(), path));
      }
    };
    walk(join(process.cwd(), 'functions'));
    expect(offenders).toEqual([]);
  });
});
