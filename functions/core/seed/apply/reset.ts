/**
 * `--reset` of tenants: deletes their seeded rows (every tenant section, deepest first, and their
 * inbound keys) and clears the tenant row's generated keys, keeping the tenant row and its id, so
 * application data referencing it survives; the sections then recreate everything from the seed. In
 * plan mode the rows are only counted (and later steps treat them as absent).
 */
import { allSections, type Section } from '../model.ts';
import { qIdent, qTable } from '../sql.ts';
import type { RunContext } from './context.ts';

/** SQL listing (id, tenant) of a tenant section's rows for tenant ids $1. */
function idsUnder(s: Section): string {
  const p = s.parent!;
  if (!p.parent) return `SELECT x.${qIdent(s.id!)} AS id, x.${qIdent(s.parentColumn!)} AS tenant FROM ${qTable(s.table)} x WHERE x.${qIdent(s.parentColumn!)} = ANY($1)`;
  return `SELECT x.${qIdent(s.id!)} AS id, p.tenant FROM ${qTable(s.table)} x JOIN (${idsUnder(p)}) p ON x.${qIdent(s.parentColumn!)} = p.id`;
}

export async function resetTenants(ctx: RunContext, slugs: readonly string[]): Promise<void> {
  if (slugs.length === 0) return;
  const { client, plan, set, tracker } = ctx;
  const root = set.model.tenant;
  const keyCol = root.fields.find((f) => f.name === root.key[0])!.column!;
  const { rows } = await client.query(`SELECT ${qIdent(root.id!)}::text AS id, ${qIdent(keyCol)}::text AS slug FROM ${qTable(root.table)} WHERE ${qIdent(keyCol)}::text = ANY($1)`, [slugs]);
  const slugOf = new Map<string, string>(rows.map((r) => [r.id, r.slug]));
  const ids = [...slugOf.keys()];
  if (ids.length === 0) return;
  for (const id of ids) ctx.resetIds.add(id);
  const sections = allSections(set.model).filter((s) => s.tenant && s.parent).reverse();
  const record = (table: string, out: { tenant: string; n: number }[]) => {
    for (const r of out) tracker.deleted(table, slugOf.get(r.tenant) ?? '?', r.n);
  };
  const ik = set.model.inboundKeys;
  if (ik) {
    const where = `FROM ${qTable(ik.table)} x WHERE x.${qIdent(ik.parentColumn)} = ANY($1)`;
    const sql = plan
      ? `SELECT x.${qIdent(ik.parentColumn)}::text AS tenant, count(*)::int AS n ${where} GROUP BY 1`
      : `WITH d AS (DELETE ${where} RETURNING x.${qIdent(ik.parentColumn)}::text AS tenant) SELECT tenant, count(*)::int AS n FROM d GROUP BY 1`;
    record(ik.table, (await client.query(sql, [ids])).rows);
  }
  for (const s of sections) {
    const direct = !s.parent!.parent;
    let sql: string;
    if (direct) {
      const where = `FROM ${qTable(s.table)} x WHERE x.${qIdent(s.parentColumn!)} = ANY($1)`;
      sql = plan
        ? `SELECT x.${qIdent(s.parentColumn!)}::text AS tenant, count(*)::int AS n ${where} GROUP BY 1`
        : `WITH d AS (DELETE ${where} RETURNING x.${qIdent(s.parentColumn!)}::text AS tenant) SELECT tenant, count(*)::int AS n FROM d GROUP BY 1`;
    } else {
      const under = idsUnder(s.parent!);
      sql = plan
        ? `SELECT p.tenant::text AS tenant, count(*)::int AS n FROM ${qTable(s.table)} x JOIN (${under}) p ON x.${qIdent(s.parentColumn!)} = p.id GROUP BY 1`
        : `WITH d AS (DELETE FROM ${qTable(s.table)} x USING (${under}) p WHERE x.${qIdent(s.parentColumn!)} = p.id RETURNING p.tenant::text AS tenant) SELECT tenant, count(*)::int AS n FROM d GROUP BY 1`;
    }
    record(s.table, (await client.query(sql, [ids])).rows);
  }
  // The tenant row's own generated keys are regenerated too, by its section (the tenant row stays: its
  // key columns may be NOT NULL), which is how a `generated` column of the tenant is rotated.
  ctx.log(`${plan ? 'would reset' : 'reset'}: ${slugs.join(', ')}`);
}
