/** The items and desired column values of a section, from the seed set and the ids known so far. */
import type { Entry } from '../load.ts';
import type { Section } from '../model.ts';
import type { DesiredRow } from './diff.ts';
import type { Item, RunContext } from './context.ts';

export const keyTextOf = (s: Section, e: Entry) => s.key.map((k) => String(e[k])).join('/');

export function itemsOf(ctx: RunContext, s: Section): Item[] {
  if (!s.parent) {
    if (s.tenant) return ctx.set.tenants.map((t) => ({ entry: t, tenant: t, label: t.slug }));
    return (ctx.set.catalog[s.path[0]!] ?? []).map((e) => ({ entry: e, label: keyTextOf(s, e) }));
  }
  const out: Item[] = [];
  const name = s.path.at(-1)!;
  const tenantChild = s.parent.tenant && !s.parent.parent;
  for (const p of ctx.items.get(s.parent) ?? []) {
    let parentId = ctx.rowId.get(p.entry) ?? null;
    // Plan mode: a reset tenant's rows are counted as deleted, so its entries are all new.
    if (ctx.plan && tenantChild && parentId && ctx.resetIds.has(parentId)) parentId = null;
    for (const e of (p.entry[name] ?? []) as Entry[]) out.push({ entry: e, parentId, ...(p.tenant ? { tenant: p.tenant } : {}), label: `${p.label}/${keyTextOf(s, e)}` });
  }
  return out;
}

/** Columns of refs whose target is new (plan mode): their value is unknown, so the row counts as changed. */
export interface Desired extends DesiredRow {
  pendingRefs: string[];
}

export function desiredRow(ctx: RunContext, s: Section, item: Item): Desired {
  const values: Record<string, unknown> = {};
  const pendingRefs: string[] = [];
  if (s.parentColumn) values[s.parentColumn] = item.parentId ?? null;
  for (const f of s.fields) {
    if (!f.column || f.generated) continue;
    const v = item.entry[f.name];
    if (f.ref) {
      if (v === undefined || v === null) values[f.column] = null;
      else {
        const id = ctx.refIds.get(f.ref)?.get(String(v));
        if (id === undefined) throw new Error(`Internal: no id for ${f.ref} "${String(v)}"`);
        values[f.column] = id;
        if (id === null) pendingRefs.push(f.column);
      }
    } else values[f.column] = v === undefined ? null : v;
  }
  const origin = ctx.set.origin.get(item.entry);
  return { values, pendingRefs, ...(origin ? { origin } : {}) };
}
