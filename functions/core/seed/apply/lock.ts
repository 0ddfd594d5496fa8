/**
 * The seed lock: a row lock (`SELECT ... FOR UPDATE`) on the one row of `migrator_seed_lock`, taken
 * inside the seed's (or rotate-key's) transaction and released with it. Like the migration lock (see
 * migrate/session.ts withLock) and unlike `pg_advisory_xact_lock`, which PUBLIC may call: locking a row
 * needs UPDATE on its table, and the table grants nothing to anyone but its owner, the migrator role, so
 * the application role cannot block seeding (issue 7 item 12).
 *
 * The table is created by the first seed run, inside that run's transaction (a refused run leaves
 * nothing behind). No advisory lock even for that: concurrent first runs race on CREATE TABLE, the
 * loser waits for the winner's commit (bounded by lock_timeout) and then uses its table. A table of
 * that name owned by a role the seeder is not a member of is refused (it could be someone else's lock).
 */
import { lockRow } from '../../lock-row.ts';
import type pg from 'pg';
import { SeedError } from '../errors.ts';

/** In the seeding session's current schema (where the seeder's unqualified tables are). */
export const SEED_LOCK_TABLE = 'migrator_seed_lock';
const ms = (v: number) => `${Math.max(0, Math.floor(v))}ms`;

/**
 * Takes the seed lock in the current transaction (creating its table the first time), waiting at most
 * `waitMs`. Throws SeedError when another seed run or rotate-key holds it that long.
 */
export async function takeSeedLock(client: pg.ClientBase, waitMs: number): Promise<void> {
  await client.query(`SELECT set_config('lock_timeout', $1, true)`, [ms(waitMs)]);
  try {
    const owned = async () =>
      (await client.query(`SELECT c.oid IS NOT NULL AS found, pg_has_role(c.relowner, 'MEMBER') AS mine FROM (SELECT to_regclass($1) AS oid) x LEFT JOIN pg_class c ON c.oid = x.oid`, [SEED_LOCK_TABLE])).rows[0] as { found: boolean; mine: boolean | null };
    let t = await owned();
    if (!t.found) {
      await client.query('SAVEPOINT seed_lock_create');
      try {
        await client.query(`CREATE TABLE ${SEED_LOCK_TABLE} (id int PRIMARY KEY CHECK (id = 1))`);
        await client.query(`COMMENT ON TABLE ${SEED_LOCK_TABLE} IS 'Seed lock: the running seed (or rotate-key) holds a row lock; no privileges for anyone else.'`);
        await client.query(`REVOKE ALL ON ${SEED_LOCK_TABLE} FROM PUBLIC`);
        // Default privileges may have granted some to other roles: take them back.
        const { rows: grants } = await client.query<{ role: string }>(
          `SELECT DISTINCT a.grantee::regrole::text AS role FROM pg_class c, aclexplode(c.relacl) a
            WHERE c.oid = $1::regclass AND a.grantee <> 0 AND a.grantee <> c.relowner`,
          [SEED_LOCK_TABLE],
        );
        for (const g of grants) await client.query(`REVOKE ALL ON ${SEED_LOCK_TABLE} FROM ${g.role}`);
        await client.query(`INSERT INTO ${SEED_LOCK_TABLE} (id) VALUES (1)`);
        await client.query('RELEASE SAVEPOINT seed_lock_create');
      } catch (e) {
        // Another first run created it meanwhile (and committed): use that one.
        const code = (e as { code?: string }).code;
        if (code !== '23505' && code !== '42P07') throw e;
        await client.query('ROLLBACK TO SAVEPOINT seed_lock_create');
      }
      t = await owned();
    }
    if (!t.mine) {
      throw new SeedError(`${SEED_LOCK_TABLE} belongs to a role this seeder is not a member of: it cannot be the seed lock. Drop it (it holds no data) or seed as its owner. Nothing was written.`);
    }
    await lockRow(client, SEED_LOCK_TABLE);
  } catch (e) {
    if ((e as { code?: string }).code === '55P03') {
      throw new SeedError(`Another seed run (or rotate-key) holds the seed lock; gave up after ${ms(waitMs)}. Nothing was written.`);
    }
    throw e;
  }
}
