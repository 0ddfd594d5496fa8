/** Where runs are recorded, and whether that table exists yet (a foreign migrations folder never creates it). */
import type pg from 'pg';

/** Qualified name of the runs table the project's migrations create. */
export const RUNS_TABLE = 'public.migration_runs';

export async function runsTableExists(client: pg.ClientBase, table: string = RUNS_TABLE): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [table]);
  return rows[0]?.ok === true;
}
