/** Adopting a history node-pg-migrate itself wrote: rows without checksums, or under its CLI's `N_x.up` names. */
import type pg from 'pg';
import type { MigrationFile } from './files.ts';
import { recordChecksum, type DbState, type Tables } from './state.ts';

/** Applied rows with a file but no checksum (applied by plain node-pg-migrate), or recorded under its CLI's `N_x.up` name. */
export function unrecorded(files: MigrationFile[], state: DbState) {
  const byName = new Map(files.map((f) => [f.name, f]));
  return state.applied.flatMap((row) => {
    const file = byName.get(row.name);
    return file && (row.checksum === null || row.recordedAs) ? [{ row, file }] : [];
  });
}

/**
 * Adopt migrations node-pg-migrate applied: rename rows its CLI recorded as `N_x.up` to the migration's
 * name (so its runner, which we drive, sees them as applied) and record their checksums (trust on first
 * use). Each keeps its `run_on`: when it ran. Run inside the caller's transaction.
 */
export async function adoptUnrecorded(client: pg.ClientBase, t: Tables, files: MigrationFile[], state: DbState, runId?: string): Promise<string[]> {
  const adopted: string[] = [];
  for (const { row, file } of unrecorded(files, state)) {
    if (row.recordedAs) await client.query(`UPDATE ${t.migrations} SET name = $1 WHERE name = $2`, [row.name, row.recordedAs]);
    await recordChecksum(client, t, { name: row.name, checksum: file.checksum, runId, source: 'adopted' });
    adopted.push(row.name);
  }
  return adopted;
}
