/**
 * The PostgreSQL server the benchmark runs against, and fresh databases on it.
 * BENCH_DATABASE_URL names an existing server (its user needs CREATEDB); otherwise an embedded
 * PostgreSQL starts in a temporary directory with durable settings (fsync on, unless BENCH_FAST=1),
 * like a real server.
 */
import pg from 'pg';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startEmbeddedPostgres } from '../../../local/embedded-postgres.ts';

export interface BenchServer {
  /** URL of the server's maintenance database. */
  readonly url: string;
  /** "embedded PostgreSQL 18.x (fsync on)" or "BENCH_DATABASE_URL: PostgreSQL 15.x". */
  readonly description: string;
  readonly version: string;
  readonly settings: Record<string, string>;
  createDatabase(prefix: string): Promise<BenchDatabase>;
  stop(): Promise<void>;
}

export interface BenchDatabase {
  readonly name: string;
  readonly url: string;
  drop(): Promise<void>;
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function startBenchServer(): Promise<BenchServer> {
  const given = process.env.BENCH_DATABASE_URL;
  let url: string;
  let stopServer: () => Promise<void>;
  let origin: string;
  if (given) {
    url = given;
    stopServer = async () => {};
    origin = 'BENCH_DATABASE_URL';
  } else {
    const dataDir = mkdtempSync(join(tmpdir(), 'migrator-bench-pg-'));
    // By default fsync and synchronous_commit stay on: a commit costs what it costs on a real server.
    // BENCH_FAST=1 turns them off, to take disk contention from other work out of the figures.
    const server = await startEmbeddedPostgres({ dataDir, fast: process.env.BENCH_FAST === '1' });
    url = server.url;
    origin = 'embedded';
    stopServer = async () => {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    };
  }
  const settings = await withClient(url, async (c) => {
    const { rows } = await c.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings
        WHERE name IN ('server_version', 'fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers', 'wal_level')`,
    );
    return Object.fromEntries(rows.map((r) => [r.name, r.setting]));
  });
  const version = settings.server_version ?? '?';
  const description = `${origin} PostgreSQL ${version} (fsync=${settings.fsync}, synchronous_commit=${settings.synchronous_commit})`;
  const created = new Set<string>();
  return {
    url,
    description,
    version,
    settings,
    async createDatabase(prefix) {
      const name = `bench_${prefix}_${randomBytes(4).toString('hex')}`;
      await withClient(url, (c) => c.query(`CREATE DATABASE "${name}"`));
      created.add(name);
      return {
        name,
        url: withDatabase(url, name),
        async drop() {
          created.delete(name);
          await withClient(url, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
        },
      };
    },
    async stop() {
      // Leave nothing behind on a given server, even after a failed section.
      for (const name of created) {
        await withClient(url, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).catch(() => {});
      }
      await stopServer();
    },
  };
}
