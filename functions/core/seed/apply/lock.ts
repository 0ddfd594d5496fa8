/**
 * The seed lock: a row lock (`SELECT ... FOR UPDATE`) on the one row of `migrator_seed_lock`, taken
 * inside the seed's (or rotate-key's) transaction and released with it. Like the migration lock (see
 * migrate/session.ts withLock) and unlike `pg_advisory_xact_lock`, which PUBLIC may call: locking a row
 * needs UPDATE on its table, and the table grants nothing to anyone but its owner, the migrator role, so
 * the application role cannot block seeding (issue 7 item 12).
 *
 * The table is created by the first seed run, inside that run's transaction (a refused run leaves
 * nothing behind); concurrent first runs serialize on a transaction-scoped advisory lock for that one
 * creation only, as the migration lock does before its table exists.
 */
import type pg from 'pg';
import { SeedError } from '../errors.ts';

/** In the seeding session's current schema (where the seeder's unqualified tables are). */
export const SEED_LOCK_TABLE = 'migrator_seed_lock';
/** Only while the lock table does not exist yet: serializes its creation. */
const CREATE_KEY = [0x5eed, 2] as const;

const ms = (v: number) => `${Math.max(0, Math.floor(v))}ms`;

/**
 * Takes the seed lock in the current transaction (creating its table the first time), waiting at most
 * `waitMs`. Throws SeedError when another seed run or rotate-key holds it that long.
 */
export async function takeSeedLock(client: pg.ClientBase, waitMs: number): Promise<void> {
  await client.query(`SELECT set_config('lock_timeout', $1, true)`, [ms(waitMs)]);
  try {
    const { rows } = await client.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [SEED_LOCK_TABLE]);
    if (!rows[0].ok) {
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', [...CREATE_KEY]);
      await client.query(`CREATE TABLE IF NOT EXISTS ${SEED_LOCK_TABLE} (id int PRIMARY KEY CHECK (id = 1))`);
      await client.query(`COMMENT ON TABLE ${SEED_LOCK_TABLE} IS 'Seed lock: the running seed (or rotate-key) holds a row lock; no privileges for anyone else.'`);
      await client.query(`REVOKE ALL ON ${SEED_LOCK_TABLE} FROM PUBLIC`);
      // Default privileges may have granted some to other roles: take them back.
      const { rows: grants } = await client.query<{ role: string }>(
        `SELECT DISTINCT a.grantee::regrole::text AS role FROM pg_class c, aclexplode(c.relacl) a
          WHERE c.oid = $1::regclass AND a.grantee <> 0 AND a.grantee <> c.relowner`,
        [SEED_LOCK_TABLE],
      );
      for (const g of grants) await client.query(`REVOKE ALL ON ${SEED_LOCK_TABLE} FROM ${g.role}`);
      await client.query(`INSERT INTO ${SEED_LOCK_TABLE} (id) VALUES (1) ON CONFLICT DO NOTHING`);
    }
    await client.query(`SELECT 1 FROM ${SEED_LOCK_TABLE} WHERE id = 1 FOR UPDATE`);
  } catch (e) {
    if ((e as { code?: string }).code === '55P03') {
      throw new SeedError(`Another seed run (or rotate-key) holds the seed lock; gave up after ${ms(waitMs)}. Nothing was written.`);
    }
    throw e;
  }
}
