/**
 * Timing helpers: wall-clock measurement of spawned commands and in-process work, medians.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

export function median(samples: readonly number[]): number {
  if (samples.length === 0) return Number.NaN;
  const s = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** "1.23 / 1.31 / 1.27 s": the samples in run order, for the detail column. */
export function samplesText(samples: readonly number[]): string {
  return `${samples.map((ms) => (ms / 1000).toFixed(2)).join(' / ')} s`;
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

export interface SpawnOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Kill the process after this long; default 5 minutes. */
  readonly timeoutMs?: number;
}

export interface SpawnResult {
  readonly ms: number;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a command to completion and times it from spawn to exit. Output is collected (and kept
 * short) rather than printed, so terminal speed never enters a measurement.
 */
export function run(cmd: string, args: readonly string[], options: SpawnOptions = {}): Promise<SpawnResult> {
  return new Promise((resolveRun, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    const keep = 64 * 1024;
    child.stdout.on('data', (b: Buffer) => {
      if (outLen < keep) out.push(b);
      outLen += b.length;
    });
    child.stderr.on('data', (b: Buffer) => {
      if (errLen < keep) err.push(b);
      errLen += b.length;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 300_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({
        ms: performance.now() - t0,
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

/** Like `run`, but a non-zero exit is an error carrying the command's own output. */
export async function runOk(cmd: string, args: readonly string[], options: SpawnOptions = {}): Promise<SpawnResult> {
  const r = await run(cmd, args, options);
  if (r.code !== 0) {
    const tail = (r.stderr || r.stdout).trim().split('\n').slice(-8).join('\n');
    throw new Error(`${cmd} ${args.slice(0, 2).join(' ')} exited ${r.code}: ${tail}`);
  }
  return r;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
