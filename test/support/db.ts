/**
 * Per-test databases on the run's PostgreSQL server: every test gets a fresh, empty database,
 * so tests never see each other's rows and can run in parallel.
 */
import { beforeEach, inject, onTestFinished } from 'vitest';
import pg from 'pg';
import { randomBytes } from 'node:crypto';

export function serverUrl(): string {
  return inject('serverUrl');
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  /** A connected client (superuser) for assertions; closed by drop(). */
  client(): Promise<pg.Client>;
  drop(): Promise<void>;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: serverUrl() });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function createTestDatabase(prefix = 't'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`.toLowerCase();
  await admin((c) => c.query(`CREATE DATABASE "${name}"`));
  const url = withDatabase(serverUrl(), name);
  const clients: pg.Client[] = [];
  return {
    name,
    url,
    async client() {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      clients.push(c);
      return c;
    },
    async drop() {
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
      await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}

/** `createTestDatabase(prefix)`, dropped when the current test finishes (call it inside a test). */
export async function testDatabase(prefix = 't'): Promise<TestDatabase> {
  const db = await createTestDatabase(prefix);
  onTestFinished(() => db.drop());
  return db;
}

/**
 * Each test of the file gets a fresh database and a client on it, dropped (the client closed) when the test
 * finishes; `use` hands them to the file's own variables.
 */
export function eachTestDatabase(prefix: string, use: (db: TestDatabase, client: pg.Client) => void): void {
  beforeEach(async () => {
    const db = await testDatabase(prefix);
    use(db, await db.client());
  });
}
