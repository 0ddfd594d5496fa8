/**
 * Shared setup for the seeding tests: a migrated test database, the real KMS/Secrets Manager stand-in
 * bootstrapped like `npm start` does it, SDK clients pointed at it, and a scratch copy of seeds/ that a
 * test may edit.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type pg from 'pg';
import { parse, stringify } from 'yaml';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { up } from '../../functions/core/migrate/engine.ts';
import { startAwsStandIn, bootstrapDev, type AwsStandIn } from '../../local/aws-standin/index.ts';
import type { SeedAwsClients } from '../../functions/core/seed/aws.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const SEEDS = join(ROOT, 'seeds');
export const MIGRATIONS = join(ROOT, 'migrations');

export interface SeedEnv {
  db: TestDatabase;
  client: pg.Client;
  standIn: AwsStandIn;
  aws: SeedAwsClients;
  /** A scratch copy of seeds/ (edit with `editYaml`). */
  seedsDir: string;
  close(): Promise<void>;
}

export async function seedEnv(options: { maxAttempts?: number } = {}): Promise<SeedEnv> {
  const db = await createTestDatabase('seed');
  await up({ databaseUrl: db.url, dir: MIGRATIONS });
  const client = await db.client();
  const standIn = await startAwsStandIn();
  await bootstrapDev(standIn);
  const config = { ...standIn.clientConfig(), credentials: { ...standIn.credentials }, maxAttempts: options.maxAttempts ?? 2 };
  const aws = { kms: new KMSClient(config), secrets: new SecretsManagerClient(config) };
  const seedsDir = mkdtempSync(join(tmpdir(), 'seeds-'));
  cpSync(SEEDS, seedsDir, { recursive: true });
  return {
    db,
    client,
    standIn,
    aws,
    seedsDir,
    async close() {
      aws.kms.destroy();
      aws.secrets.destroy();
      await standIn.stop();
      await db.drop();
      rmSync(seedsDir, { recursive: true, force: true });
    },
  };
}

/** Rewrites a YAML file of the scratch seeds folder through `edit` (which may mutate or return a new value). */
export function editYaml(seedsDir: string, file: string, edit: (doc: any) => any): void {
  const path = join(seedsDir, file);
  const doc = parse(readFileSync(path, 'utf8'));
  const out = edit(doc) ?? doc;
  writeFileSync(path, stringify(out));
}

/**
 * Inserted/updated/deleted tuples per public table. Other sessions flush their statistics when they
 * end, so first wait until this is the only session on the database, then flush our own.
 */
export async function writeCounters(client: pg.ClientBase): Promise<Record<string, number>> {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  for (let i = 0; i < 100; i++) {
    const { rows } = await client.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
    );
    if (rows[0].n === 0) {
      // An exiting backend's flush can trail its disappearance from pg_stat_activity a little.
      if (i > 0) await sleep(250);
      break;
    }
    await sleep(50);
  }
  // PG15+ accumulates stats per backend and flushes lazily; force our own, and other backends (the
  // seeder used this same client) have nothing pending.
  await client.query(`SELECT pg_stat_force_next_flush()`).catch(() => {});
  await client.query(`SELECT pg_stat_clear_snapshot()`);
  const { rows } = await client.query<{ t: string; n: string }>(
    `SELECT relname AS t, (n_tup_ins + n_tup_upd + n_tup_del)::text AS n FROM pg_stat_user_tables WHERE schemaname = 'public'`,
  );
  return Object.fromEntries(rows.map((r) => [r.t, Number(r.n)]));
}

/** A full dump of every public table (for "the database is exactly as it was" checks). */
export async function snapshot(client: pg.ClientBase): Promise<Record<string, unknown[]>> {
  const { rows } = await client.query<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`);
  const out: Record<string, unknown[]> = {};
  for (const { t } of rows) {
    out[t] = (await client.query(`SELECT to_jsonb(x)::text AS j FROM public."${t}" x ORDER BY 1`)).rows.map((r) => r.j);
  }
  return out;
}

/**
 * Row count and md5 of the rows of every table outside the system schemas: equal fingerprints before and
 * after a refused run mean nothing was written (migration_runs and the checksum tables included).
 */
export async function fingerprint(client: pg.ClientBase): Promise<Record<string, { rows: number; md5: string | null }>> {
  const { rows } = await client.query<{ s: string; t: string }>(
    `SELECT schemaname AS s, tablename AS t FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2`,
  );
  const out: Record<string, { rows: number; md5: string | null }> = {};
  for (const { s, t } of rows) {
    const rel = `"${s.replaceAll('"', '""')}"."${t.replaceAll('"', '""')}"`;
    const r = await client.query(`SELECT count(*)::int AS n, md5(string_agg(x::text, ',' ORDER BY x::text)) AS h FROM ${rel} x`);
    out[`${s}.${t}`] = { rows: r.rows[0].n, md5: r.rows[0].h };
  }
  return out;
}

/** A clearly fake, deterministic value of a secret's shape (built at run time: no key-shaped literal in the repo). */
export function fakeSecret(prefix: string, length: number, alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789'): string {
  let x = 7;
  let out = prefix;
  while (out.length < prefix.length + length) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out += alphabet[(x >>> 12) % alphabet.length];
  }
  return out;
}
