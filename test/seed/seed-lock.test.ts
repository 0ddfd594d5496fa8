/**
 * The seed lock (issue 7 item 12): a row lock on migrator_seed_lock, which only the migrator role can
 * take. As on RDS: the migrator is the database's non-superuser owner, the application role is given
 * every privilege on every table by default, and still cannot take or block the seed lock, whatever it
 * tries (the old advisory keys, the table's row, the table); another migrator session can.
 */
import { join } from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { up } from '../../functions/core/migrate/engine.ts';
import { seed } from '../../functions/core/seed/seed.ts';
import { rotateTenantApiKey, confirmTenantApiKey } from '../../functions/core/seed/rotate.ts';
import { SEED_LOCK_TABLE } from '../../functions/core/seed/apply/lock.ts';
import { bootstrapDev, startAwsStandIn, type AwsStandIn } from '../../local/aws-standin/index.ts';
import { rdsLikeDatabase, type RdsLikeDatabase } from '../support/rds-roles.ts';
import { ROOT } from './helpers.ts';

let rds: RdsLikeDatabase;
let standIn: AwsStandIn;
const as = (role: 'owner' | 'app', applicationName?: string) => rds.as(role === 'owner' ? rds.ownerUrl : rds.appUrl, applicationName);

beforeAll(async () => {
  rds = await rdsLikeDatabase('seedlock');
  await up({ databaseUrl: rds.ownerUrl, dir: join(ROOT, 'migrations') });
  standIn = await startAwsStandIn();
  await bootstrapDev(standIn);
}, 60_000);

afterAll(async () => {
  await standIn?.stop();
  await rds?.drop();
});

describe('the seed lock', () => {
  it('the application role cannot take or block it; another migrator session holds it for real', async () => {
    const config = { ...standIn.clientConfig(), credentials: { ...standIn.credentials }, maxAttempts: 2 };
    const aws = { kms: new KMSClient(config), secrets: new SecretsManagerClient(config) };
    try {
      const owner = await as('owner', 'migrator');
      expect((await owner.query('SELECT rolsuper FROM pg_roles WHERE rolname = current_user')).rows[0].rolsuper).toBe(false);
      // The first seed creates the lock table, with no privilege for anyone but its owner.
      const app = await as('app', 'mallory');
      const first = await seed(owner, { stage: 'local', dir: join(ROOT, 'seeds'), aws });
      expect(first.counts.tenants).toBe(5);
      const grants = await app.query(`SELECT has_table_privilege($1, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER') AS any`, [`public.${SEED_LOCK_TABLE}`]);
      expect(grants.rows[0].any).toBe(false);
      // The application's privileges on seeded tables are real (so the refusals below are about the lock).
      expect((await app.query(`SELECT has_table_privilege('public.tenants', 'UPDATE') AS ok`)).rows[0].ok).toBe(true);

      // Everything the application can try, held in an open transaction while the migrator seeds.
      await app.query('SELECT pg_advisory_lock($1, $2)', [0x5eed, 1]);
      await app.query('SELECT pg_advisory_lock($1, $2)', [0x5eed, 2]);
      await app.query('BEGIN');
      await app.query(`SELECT pg_relation_size('public.${SEED_LOCK_TABLE}'::regclass::oid)`);
      await expect(app.query(`SAVEPOINT a; SELECT 1 FROM public.${SEED_LOCK_TABLE} WHERE id = 1 FOR UPDATE`)).rejects.toThrow(/permission denied/);
      await app.query('ROLLBACK TO SAVEPOINT a');
      await expect(app.query(`SAVEPOINT b; LOCK TABLE public.${SEED_LOCK_TABLE} IN ACCESS EXCLUSIVE MODE`)).rejects.toThrow(/permission denied/);
      await app.query('ROLLBACK TO SAVEPOINT b');

      const second = await seed(owner, { stage: 'local', dir: join(ROOT, 'seeds'), aws, lockWaitTimeoutMs: 300 });
      expect(second.rowsWritten).toBe(0);
      const r = await rotateTenantApiKey(owner, { slug: 'vela', aws, kmsKeyId: 'alias/migrator-local', secretPrefix: 'migrator/local' });
      expect(r.newPrefix).toMatch(/^tk_vela_[0-9a-f]{8}$/);
      await confirmTenantApiKey(owner, { slug: 'vela' });
      await app.query('ROLLBACK');
      await app.query('SELECT pg_advisory_unlock_all()');

      // Between migrator sessions the lock holds: a seed waits, then gives up on its deadline.
      const other = await as('owner', 'migrator:other');
      await other.query(`BEGIN; SELECT 1 FROM ${SEED_LOCK_TABLE} WHERE id = 1 FOR UPDATE`);
      await expect(seed(owner, { stage: 'local', dir: join(ROOT, 'seeds'), aws, lockWaitTimeoutMs: 300 })).rejects.toThrow(
        /Another seed run \(or rotate-key\) holds the seed lock; gave up after 300ms\. Nothing was written\./,
      );
      await expect(rotateTenantApiKey(owner, { slug: 'vela', aws, kmsKeyId: 'alias/migrator-local', secretPrefix: 'migrator/local', lockWaitTimeoutMs: 300 })).rejects.toThrow(/holds the seed lock/);
      await other.query('ROLLBACK');
      expect((await seed(owner, { stage: 'local', dir: join(ROOT, 'seeds'), aws, lockWaitTimeoutMs: 300 })).rowsWritten).toBe(0);
    } finally {
      aws.kms.destroy();
      aws.secrets.destroy();
    }
  }, 120_000);
});
