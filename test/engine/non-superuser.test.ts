/**
 * Deploys as RDS runs them: the migrator connects as the database's owner, a role with CREATEDB and
 * CREATEROLE but not superuser (RDS's master user; rds_superuser is not a superuser). The sample migrations,
 * the RLS set-up and the seed work there, and the migration lock holds; an application role, even one given
 * every privilege by default, cannot take it or block it (issue 7 item 12).
 */
import { join } from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { up } from '../../functions/core/migrate/engine.ts';
import { tablesOf } from '../../functions/core/migrate/state.ts';
import { seed } from '../../functions/core/seed/seed.ts';
import { bootstrapDev, startAwsStandIn, type AwsStandIn } from '../../local/aws-standin/index.ts';
import { rdsLikeDatabase, type RdsLikeDatabase } from '../support/rds-roles.ts';
import { fixture, type Fixture } from './fixtures.ts';

const ROOT = join(import.meta.dirname, '../..');
let rds: RdsLikeDatabase;
let standIn: AwsStandIn;
let ownerUrl: string;
let appUrl: string;
const as = (url: string, applicationName?: string) => rds.as(url, applicationName);

beforeAll(async () => {
  rds = await rdsLikeDatabase('nonsuper');
  ({ ownerUrl, appUrl } = rds);
  standIn = await startAwsStandIn();
  await bootstrapDev(standIn);
}, 60_000);

afterAll(async () => {
  await standIn?.stop();
  await rds?.drop();
});

describe('as a non-superuser owner role (RDS master user)', () => {
  it('is not a superuser, and applies the sample migrations (RLS included) and seeds', async () => {
    const owner = await as(ownerUrl);
    expect((await owner.query('SELECT rolsuper FROM pg_roles WHERE rolname = current_user')).rows[0].rolsuper).toBe(false);
    const result = await up({ databaseUrl: ownerUrl, dir: join(ROOT, 'migrations') });
    expect(result.applied.at(-1)).toBe('0008_tenant_app_rls');
    const rls = await owner.query(`SELECT count(*)::int AS n FROM pg_class WHERE relrowsecurity AND relnamespace = 'public'::regnamespace`);
    expect(rls.rows[0].n).toBeGreaterThan(0);
    const config = { ...standIn.clientConfig(), credentials: { ...standIn.credentials }, maxAttempts: 2 };
    const aws = { kms: new KMSClient(config), secrets: new SecretsManagerClient(config) };
    try {
      const summary = await seed(owner, { stage: 'local', dir: join(ROOT, 'seeds'), aws });
      expect(summary.counts.tenants).toBeGreaterThan(0);
    } finally {
      aws.kms.destroy();
      aws.secrets.destroy();
    }
    expect((await owner.query('SELECT count(*)::int AS n FROM tenants')).rows[0].n).toBeGreaterThan(0);
  }, 120_000);

  it('the application role cannot take or block the migration lock; another migrator run can', async () => {
    const t = tablesOf({ dir: 'migrations' });
    const app = await as(appUrl, 'mallory');
    // Everything the application can try: the advisory key (PUBLIC), an ACCESS SHARE on the lock table by oid
    // held in an open transaction, locking the row, locking the table.
    await app.query('SELECT pg_advisory_lock($1::bigint)', [t.lockKey]);
    await app.query('BEGIN');
    await app.query(`SELECT pg_relation_size('public.pgmigrations_lock'::regclass::oid)`);
    await expect(app.query('SAVEPOINT s; SELECT 1 FROM public.pgmigrations_lock WHERE id = 1 FOR UPDATE')).rejects.toThrow(/permission denied/);
    await app.query('ROLLBACK TO SAVEPOINT s');
    await expect(app.query('SAVEPOINT s2; LOCK TABLE public.pgmigrations_lock IN ACCESS SHARE MODE')).rejects.toThrow(/permission denied/);
    await app.query('ROLLBACK TO SAVEPOINT s2');
    const grants = await app.query(`SELECT has_table_privilege('public.pgmigrations_lock', 'SELECT, UPDATE, DELETE, TRUNCATE') AS any`);
    expect(grants.rows[0].any).toBe(false);

    // A deploy with a new migration does not wait at all (NOWAIT), whatever the application holds.
    const fx: Fixture = fixture({});
    try {
      const { cpSync, writeFileSync } = await import('node:fs');
      cpSync(join(ROOT, 'migrations'), fx.dir, { recursive: true, filter: (s) => !s.includes('/.compiled') });
      writeFileSync(join(fx.dir, '0009_after_app.sql'), '-- Up Migration\nCREATE TABLE after_app (id int);\n');
      const r = await up({ databaseUrl: ownerUrl, dir: fx.dir }, { lockWaitTimeoutMs: 0 });
      expect(r.applied).toEqual(['0009_after_app']);

      // The lock itself still works between migrator runs (as the same non-superuser role).
      const other = await as(ownerUrl, 'migrator:other-run:lock');
      await other.query('BEGIN; SELECT 1 FROM public.pgmigrations_lock WHERE id = 1 FOR UPDATE');
      writeFileSync(join(fx.dir, '0010_blocked.sql'), '-- Up Migration\nCREATE TABLE blocked (id int);\n');
      await expect(up({ databaseUrl: ownerUrl, dir: fx.dir }, { lockWaitTimeoutMs: 300 })).rejects.toThrow(/held by pid \d+, application_name "migrator:other-run:lock"/);
      await other.query('ROLLBACK');
      expect((await up({ databaseUrl: ownerUrl, dir: fx.dir }, { lockWaitTimeoutMs: 300 })).applied).toEqual(['0010_blocked']);
    } finally {
      fx.cleanup();
      await app.query('ROLLBACK').catch(() => {});
    }
  }, 120_000);
});
