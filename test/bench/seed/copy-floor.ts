/**
 * The seeding floor: the very rows a seed run wrote, exported with `\copy ... TO` and loaded into a
 * freshly migrated database with `\copy ... FROM` by one psql process in one transaction (-1), tables
 * in foreign-key order. That is PostgreSQL's COPY protocol (what pg-copy-streams would speak), with the
 * schema's constraints, indexes and triggers all in place; no KMS, no Secrets Manager, no change detection.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withClient } from '../lib/server.ts';
import { runOk, type SpawnResult } from '../lib/timing.ts';

export interface CopyExport {
  /** Tables in load order, with their non-generated columns and the exported file. */
  readonly tables: { name: string; columns: string[]; file: string; rows: number }[];
  readonly rows: number;
}

function ident(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/** Tables ordered so that every referenced table comes before the tables referencing it. */
async function fkOrder(url: string, tables: readonly string[]): Promise<string[]> {
  const edges = await withClient(url, async (c) => {
    const { rows } = await c.query<{ child: string; parent: string }>(
      `SELECT cl.relname AS child, pl.relname AS parent
         FROM pg_constraint k
         JOIN pg_class cl ON cl.oid = k.conrelid
         JOIN pg_class pl ON pl.oid = k.confrelid
         JOIN pg_namespace n ON n.oid = cl.relnamespace
        WHERE k.contype = 'f' AND n.nspname = 'public'`,
    );
    return rows;
  });
  const wanted = new Set(tables);
  const out: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (t: string) => {
    if (state.get(t)) return; // done, or a cycle (self-reference): load order cannot help there anyway
    state.set(t, 'visiting');
    for (const e of edges) if (e.child === t && e.parent !== t && wanted.has(e.parent)) visit(e.parent);
    state.set(t, 'done');
    out.push(t);
  };
  [...tables].sort().forEach(visit);
  return out;
}

async function copyColumns(url: string, table: string): Promise<string[]> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ a: string }>(
      `SELECT attname AS a FROM pg_attribute
        WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
        ORDER BY attnum`,
      [`public.${ident(table)}`],
    );
    return rows.map((r) => r.a);
  });
}

/** Exports `tables` (with `rows` each) from the seeded database into `dir`. */
export async function exportRows(psql: string, url: string, dir: string, counts: Record<string, number>): Promise<CopyExport> {
  const order = await fkOrder(url, Object.keys(counts));
  const tables: CopyExport['tables'] = [];
  for (const name of order) {
    const columns = await copyColumns(url, name);
    const file = join(dir, `${name}.copy`);
    const cols = columns.map(ident).join(', ');
    await runOk(psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', `\\copy (SELECT ${cols} FROM public.${ident(name)}) TO '${file}'`]);
    tables.push({ name, columns, file, rows: counts[name]! });
  }
  return { tables, rows: tables.reduce((a, t) => a + t.rows, 0) };
}

/** Loads an export into `url` in one transaction; returns the psql run (its `ms` is the floor). */
export async function loadRows(psql: string, url: string, exp: CopyExport, dir: string): Promise<SpawnResult> {
  const script = join(dir, 'load.psql');
  writeFileSync(
    script,
    exp.tables.map((t) => `\\copy public.${ident(t.name)} (${t.columns.map(ident).join(', ')}) FROM '${t.file}'`).join('\n') + '\n',
  );
  return runOk(psql, ['-X', '-q', '-1', '-v', 'ON_ERROR_STOP=1', '-d', url, '-f', script]);
}
