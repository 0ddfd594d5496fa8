/**
 * One stand-in per state file at a time. Each stand-in keeps the whole state in memory and writes it
 * back whole, so two processes on one file would each overwrite the other's secrets (two `npm start`s
 * or two local seeds at once lost tenant keys that way). The owner holds `<state file>.lock` for its
 * lifetime; another process waits for it (bounded) and then loads the state the owner left. A lock
 * whose process is gone (killed, crashed) is taken over.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export interface StateLockOptions {
  /** How long to wait for another process's stand-in to stop; default 60 s. */
  readonly waitMs?: number;
  /** Poll interval while waiting; default 100 ms. */
  readonly pollMs?: number;
  /** Called once when the lock is held by a live process and we start waiting. */
  readonly onWait?: (holderPid: number) => void;
}

export interface StateLock {
  release(): void;
}

/** The lock's owner: pid plus the process start time, so a reused pid is not taken for the owner. */
interface Owner {
  pid: number;
  started: string;
}

export class StateLockTimeoutError extends Error {
  override name = 'StateLockTimeoutError';
}

export async function acquireStateLock(stateFile: string, options: StateLockOptions = {}): Promise<StateLock> {
  const lockFile = `${stateFile}.lock`;
  const deadline = Date.now() + (options.waitMs ?? 60_000);
  mkdirSync(dirname(lockFile), { recursive: true });
  let announced = false;
  for (;;) {
    const me: Owner = { pid: process.pid, started: processStart(process.pid) };
    try {
      const fd = openSync(lockFile, 'wx', 0o600);
      try {
        writeSync(fd, JSON.stringify(me));
      } finally {
        closeSync(fd);
      }
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        process.off('exit', release);
        if (readOwner(lockFile)?.pid === process.pid) rmSync(lockFile, { force: true });
      };
      // A process that exits without stop() (an error path, process.exit) must not leave the lock behind.
      process.on('exit', release);
      return { release };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = readOwner(lockFile);
    if (!owner || !alive(owner)) {
      // Stale (its process is gone) or half-written by a process killed between open and write.
      rmSync(lockFile, { force: true });
      continue;
    }
    if (owner.pid === process.pid) {
      throw new Error(`This process already runs a local AWS stand-in on ${stateFile}; stop it before starting another.`);
    }
    if (!announced) {
      announced = true;
      options.onWait?.(owner.pid);
    }
    if (Date.now() >= deadline) {
      throw new StateLockTimeoutError(
        `Another process (pid ${owner.pid}) is running the local AWS stand-in on ${stateFile} and did not stop within ` +
          `${Math.round((options.waitMs ?? 60_000) / 1000)} s. Wait for it to finish, or stop it; if no such process exists, delete ${lockFile}.`,
      );
    }
    await new Promise((r) => setTimeout(r, options.pollMs ?? 100));
  }
}

function readOwner(lockFile: string): Owner | undefined {
  try {
    const o = JSON.parse(readFileSync(lockFile, 'utf8')) as Partial<Owner>;
    return typeof o.pid === 'number' && typeof o.started === 'string' ? (o as Owner) : undefined;
  } catch {
    return undefined;
  }
}

function alive(owner: Owner): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  const started = processStart(owner.pid);
  return started === '' || owner.started === '' || started === owner.started;
}

/** Start time of a process in clock ticks since boot (Linux); '' where /proc is not there. */
function processStart(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22; the command name (field 2) may contain spaces, so count from the closing parenthesis.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}
