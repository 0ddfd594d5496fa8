/**
 * The live-database check, before anything is written (in plan and apply): every table and column the
 * model names exists, each section's natural key (parentColumn + key columns) is backed by a unique
 * constraint or unique index (what ON CONFLICT needs), and the id column a ref or a child uses exists.
 * Every mismatch is reported at once, naming seed.config.yaml:line, the table and the column. The column
 * types read here are the ones values are cast to (see diff.ts).
 */
import type pg from 'pg';
import { allSections, type Section, type SeedModel } from '../model.ts';
import { SeedError, SeedValidationError, type SeedIssue } from '../errors.ts';

export interface LiveTable {
  /** Column -> its type as PostgreSQL prints it (format_type), e.g. `integer`, `numeric(3,2)`, `text[]`. */
  columns: Map<string, string>;
  /** Column sets of the non-partial unique indexes (sorted names). */
  uniques: string[][];
}
export type LiveSchema = Map<string, LiveTable>;

export async function readLiveSchema(client: pg.ClientBase, tables: readonly string[]): Promise<Map<string, LiveTable | undefined>> {
  const { rows } = await client.query(
    `SELECT t.name,
            c.oid IS NOT NULL AS found,
            (SELECT json_object_agg(a.attname, format_type(a.atttypid, a.atttypmod))
               FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
            (SELECT json_agg((SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a
                               WHERE a.attrelid = c.oid AND a.attnum = ANY (i.indkey::int2[])))
               FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL) AS uniques
       FROM unnest($1::text[]) AS t(name) LEFT JOIN pg_class c ON c.oid = to_regclass(t.name)`,
    [tables],
  );
  return new Map(
    rows.map((r) => [
      r.name as string,
      r.found ? { columns: new Map(Object.entries((r.columns ?? {}) as Record<string, string>)), uniques: ((r.uniques ?? []) as string[][]).filter(Boolean) } : undefined,
    ]),
  );
}

/** Columns a section writes or reads (field columns and the special ones). */
export function sectionColumns(s: Section): { column: string; field?: string }[] {
  const out: { column: string; field?: string }[] = [];
  if (s.parentColumn) out.push({ column: s.parentColumn });
  if (s.id) out.push({ column: s.id });
  for (const f of s.fields) {
    if (f.column) out.push({ column: f.column, field: f.name });
    const p = f.providerSecret;
    if (p) for (const c of [p.ciphertextColumn, p.keyIdColumn, p.versionColumn, p.encryptedAtColumn]) if (c) out.push({ column: c, field: f.name });
    const g = f.generated;
    if (g) for (const c of [g.hashColumn, g.prefixColumn]) if (c) out.push({ column: c, field: f.name });
  }
  return out;
}

/** The natural key's columns: parentColumn first, then the key fields' columns. */
export function keyColumns(s: Section): string[] {
  return [...(s.parentColumn ? [s.parentColumn] : []), ...s.key.map((k) => s.fields.find((f) => f.name === k)!.column!)];
}

/** Checks the model against the database; returns the live tables, or throws with every mismatch. */
export async function checkLiveSchema(client: pg.ClientBase, model: SeedModel): Promise<LiveSchema> {
  const sections = allSections(model);
  const ik = model.inboundKeys;
  const tables = [...new Set([...sections.map((s) => s.table), ...(ik ? [ik.table] : [])])];
  const live = await readLiveSchema(client, tables);
  const missing = tables.filter((t) => !live.get(t));
  // Nothing there at all: the migrations have not run. Some tables missing: the model names them wrongly.
  if (missing.length > 0 && missing.length === tables.length) {
    const where = sections
      .filter((s) => missing.includes(s.table))
      .map((s) => `${model.file}${s.tableLine ? `:${s.tableLine}` : ''} ${s.where}.table: ${s.table} does not exist`)
      .join('; ');
    throw new SeedError(
      `The database has no ${missing.join(', ')} table${missing.length > 1 ? 's' : ''}: apply the migrations first (migrator up), or fix the tables ${model.file} names (${where}). Nothing was written.`,
    );
  }
  const issues: SeedIssue[] = [];
  const add = (line: number | undefined, path: string, message: string) => issues.push({ file: model.file, path, ...(line ? { line } : {}), message });
  for (const s of sections) {
    const t = live.get(s.table);
    if (!t) {
      add(s.tableLine ?? s.line, `${s.where}.table`, `table ${s.table} does not exist in the database (no table ${s.table}; a migration creates it, or fix the name)`);
      continue;
    }
    for (const c of sectionColumns(s)) {
      if (!t.columns.has(c.column)) {
        const f = c.field ? s.fields.find((x) => x.name === c.field) : undefined;
        const line = f && f.column === c.column ? (f.columnLine ?? f.line) : (f?.line ?? s.line);
        add(line, c.field ? `${s.where}.fields.${c.field}` : s.where, `table ${s.table} has no column ${c.column} (column does not exist)`);
      }
    }
    const key = keyColumns(s);
    if (key.every((c) => t.columns.has(c))) {
      const want = [...key].sort().join(',');
      if (!t.uniques.some((u) => [...u].sort().join(',') === want)) {
        add(s.line, `${s.where}.key`, `table ${s.table} has no unique constraint or unique index on (${key.join(', ')}): the natural key must be unique (add one in a migration)`);
      }
    }
  }
  if (ik && !live.get(ik.table)) add(undefined, 'tenant.inboundKeys.table', `table ${ik.table} does not exist in the database`);
  if (ik && live.get(ik.table)) {
    const t = live.get(ik.table)!;
    for (const c of [ik.parentColumn, ik.prefixColumn, ik.hashColumn, ik.secretNameColumn, ik.statusColumn, ik.confirmedAtColumn, ik.expiresAtColumn, ik.revokedAtColumn, ik.createdAtColumn]) {
      if (c && !t.columns.has(c)) add(undefined, 'tenant.inboundKeys', `table ${ik.table} has no column ${c}`);
    }
    if (t.columns.has(ik.prefixColumn) && !t.uniques.some((u) => u.length === 1 && u[0] === ik.prefixColumn)) {
      add(undefined, 'tenant.inboundKeys.prefixColumn', `table ${ik.table} has no unique constraint or unique index on (${ik.prefixColumn})`);
    }
  }
  if (model.audit) {
    const [a] = [...(await readLiveSchema(client, [model.audit.table])).values()];
    if (!a) add(undefined, 'audit.table', `the database has no ${model.audit.table} table`);
    else for (const c of AUDIT_COLUMNS) if (!a.columns.has(c)) add(undefined, 'audit.table', `table ${model.audit.table} has no column ${c} (the audit table has audit_log's columns)`);
  }
  if (issues.length > 0) throw new SeedValidationError(issues);
  return live as LiveSchema;
}

export const AUDIT_COLUMNS = ['tenant_id', 'actor', 'action', 'resource_type', 'resource_id', 'changes', 'context'];
