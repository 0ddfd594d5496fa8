/**
 * What the figures were measured on, printed above the table and kept in the JSON.
 */
import { cpus, totalmem, release, platform, arch, loadavg } from 'node:os';
import { execFileSync } from 'node:child_process';
import { ROOT } from './optional.ts';

export interface MachineInfo {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  readonly commit: string;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).trim();
    if (dirty) commit += '+dirty';
  } catch {
    // Not a git checkout: the commit stays unknown.
  }
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${platform()} ${release()} ${arch()}`,
    node: process.version,
    commit,
  };
}

/** "1.02 0.80 0.55": other work on the machine makes figures noisy; the table says how busy it was. */
export function loadText(): string {
  return loadavg().map((n) => n.toFixed(2)).join(' ');
}
