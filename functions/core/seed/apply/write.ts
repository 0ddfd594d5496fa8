/**
 * The writes of a section: new rows as one upsert with every column the model writes, existing rows as
 * an UPDATE of the columns sent only, grouped by the special columns they carry (sql.ts, set-based).
 */
import { updateRows, upsertRows, type Column } from '../sql.ts';
import type { Field, Section } from '../model.ts';
import type { Pending, RunContext } from './context.ts';

export const keyString = (key: readonly string[], row: Record<string, unknown>) => key.map((c) => String(row[c])).join('\u0000');

/** Writes the rows; returns key -> id of the written rows. */
export async function writeRows(ctx: RunContext, s: Section, rows: readonly Pending[], key: string[], leafFields: Field[], compare: string[], specialOnly = false): Promise<Map<string, string>> {
  const live = ctx.live.get(s.table)!;
  const col = (name: string): Column => ({ name, type: live.columns.get(name)! });
  const groups = new Map<string, Pending[]>();
  for (const p of rows) {
    const sig = Object.keys(p.extra).sort().join(',');
    const g = groups.get(sig);
    if (g) g.push(p);
    else groups.set(sig, [p]);
  }
  const ids = new Map<string, string>();
  const touch = live.columns.has('updated_at') && !s.fields.some((f) => f.column === 'updated_at');
  for (const [sig, group] of groups) {
    const extra = sig ? sig.split(',') : [];
    const base = specialOnly ? [] : compare;
    const leafCols = leafFields.map((f) => f.column!);
    const columns = [...new Set([...key, ...base, ...leafCols, ...extra])].map(col);
    const values = (ps: readonly Pending[]) =>
      ps.map((p) => {
        const v: Record<string, unknown> = { ...p.desired.values, ...p.extra };
        for (const l of p.leaves) v[l.field.column!] = l.value;
        return v;
      });
    const returning = s.id ? [s.id, ...key].map((c) => `t."${c}"`).join(', ') : undefined;
    // New rows: an upsert with every column the model writes. Existing rows: an UPDATE of the columns that
    // are sent only (a proposed INSERT tuple would have to satisfy NOT NULL on columns it does not carry).
    const fresh = group.filter((p) => !p.found && !specialOnly);
    const existing = group.filter((p) => p.found || specialOnly);
    const spec = { table: s.table, key, columns, touchUpdatedAt: touch, ...(returning ? { returning } : {}) };
    const out = [...(await upsertRows(ctx.client, spec, values(fresh))), ...(await updateRows(ctx.client, spec, values(existing)))];
    if (s.id) for (const r of out) ids.set(keyString(key, r), r[s.id] as string);
  }
  return ids;
}

