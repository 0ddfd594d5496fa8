/** Running the CLI in-process (buildProgram/main) and as a real process (node bin/migrator.mjs). */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { main } from '../../bin/migrator.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const LAUNCHER = resolve(ROOT, 'bin/migrator.mjs');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `migrator ...args` in this process. */
export async function cli(args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'migrator', ...args], { out: (t) => void (stdout += t), err: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

/** Start `node bin/migrator.mjs ...args` as a separate process. */
export function start(args: string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<CliResult> } {
  return spawnLauncher(LAUNCHER, args, { cwd: ROOT, env: { ...process.env, DATABASE_URL: '', ...env } });
}

/**
 * Start a launcher (ours, or an old checkout's) in `cwd` with exactly `env`, collecting its output. A
 * process ended by a signal exits 128.
 */
export function spawnLauncher(launcher: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [launcher, ...args], { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((res, rej) => {
    child.on('error', rej);
    child.on('close', (code, signal) => res({ code: code ?? (signal ? 128 : -1), stdout, stderr }));
  });
  return { child, done };
}

/** Run `node bin/migrator.mjs ...args` to completion. */
export function run(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return start(args, env).done;
}
