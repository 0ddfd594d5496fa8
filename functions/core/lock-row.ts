/**
 * The migration and seed locks are a row lock on row 1 of a lock table only the migrator role may touch.
 * A missing row would mean no lock at all (a `SELECT … FOR UPDATE` of nothing succeeds), so a row someone
 * deleted or truncated is put back first. Two runners that both find it missing still serialize: the
 * second's insert waits for the first's transaction, then its lock waits for the first's row.
 */
import type pg from 'pg';

export async function lockRow(client: pg.ClientBase, table: string, options: { nowait?: boolean } = {}): Promise<void> {
  const select = `SELECT 1 FROM ${table} WHERE id = 1 FOR UPDATE${options.nowait ? ' NOWAIT' : ''}`;
  if ((await client.query(select)).rowCount) return;
  await client.query(`INSERT INTO ${table} (id) VALUES (1) ON CONFLICT (id) DO NOTHING`);
  if (!(await client.query(select)).rowCount) throw new Error(`Could not take the lock on ${table}: its row cannot be created.`);
}
