/** Verification: rows per table of the model after the run (seed 000's last phase), in the report and the run history. */
import type pg from 'pg';
import { modelTables, type SeedModel } from '../model.ts';
import { builtinModel } from '../model-load.ts';
import { qTable } from '../sql.ts';

export async function verificationCounts(client: pg.ClientBase, model: SeedModel = builtinModel()): Promise<Record<string, number>> {
  const tables = modelTables(model);
  const sql = `SELECT ${tables.map((t, i) => `(SELECT count(*) FROM ${qTable(t)})::int AS c${i}`).join(', ')}`;
  const row = (await client.query(sql)).rows[0] as Record<string, number>;
  return Object.fromEntries(tables.map((t, i) => [t, row[`c${i}`]!]));
}
