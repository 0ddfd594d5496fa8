/**
 * Set-based writes: one multi-row statement per chunk of rows (json_to_recordset), never a round trip
 * per row. The `IS DISTINCT FROM` guard makes an upsert of an unchanged row a no-op even if the
 * in-memory diff was stale.
 */
import type pg from 'pg';

export interface Column {
  name: string;
  /** PostgreSQL type used to read the JSON field (uuid, text, int, numeric, jsonb, bytea, bool, timestamptz). */
  type: string;
}

export interface UpsertSpec {
  table: string;
  /** Conflict target (the natural key). */
  key: string[];
  /** Columns written; the key columns included. */
  columns: Column[];
  /** Columns updated on conflict; default: all non-key columns. Empty: DO NOTHING. */
  update?: string[];
  /** Whether the table has updated_at (set to now() on update). */
  touchUpdatedAt?: boolean;
  /** RETURNING list, e.g. 'id, slug'. */
  returning?: string;
}

const CHUNK = 5000;
const q = (ident: string) => `"${ident.replaceAll('"', '""')}"`;

/**
 * Types without an equality operator (json, xml, the geometric types, and arrays of them): a row
 * comparison over such a column fails (`operator does not exist: json = json`), so the guards compare
 * them as text. Text is at least as strict as the value's own equality, so a changed row is never kept.
 */
const NO_EQUALITY = /^(json|xml|point|line|lseg|box|path|polygon|circle)\b/;
/** A column as the `IS DISTINCT FROM` guard compares it: `t.col`, or `t.col::text` for types without `=`. */
const guardExpr = (alias: string, c: Column) => `${alias}.${q(c.name)}${NO_EQUALITY.test(c.type) ? '::text' : ''}`;
/** A table name as the model gives it (`table` or `schema.table`), quoted. */
export const qTable = (name: string) => name.split('.').map(q).join('.');
export { q as qIdent };

/** Values must be JSON-serialisable; Buffers are sent as PostgreSQL hex bytea text. */
function jsonValue(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return `\\x${v.toString('hex')}`;
  return v === undefined ? null : v;
}

export async function upsertRows<R extends pg.QueryResultRow = pg.QueryResultRow>(
  client: pg.ClientBase,
  spec: UpsertSpec,
  rows: readonly Record<string, unknown>[],
): Promise<R[]> {
  if (rows.length === 0) return [];
  const cols = spec.columns.map((c) => q(c.name)).join(', ');
  const recordType = spec.columns.map((c) => `${q(c.name)} ${c.type}`).join(', ');
  const update = spec.update ?? spec.columns.map((c) => c.name).filter((c) => !spec.key.includes(c));
  const typed = update.map((name) => spec.columns.find((c) => c.name === name) ?? { name, type: '' });
  const conflict =
    update.length === 0
      ? 'DO NOTHING'
      : `DO UPDATE SET ${update.map((c) => `${q(c)} = EXCLUDED.${q(c)}`).join(', ')}${spec.touchUpdatedAt ? ', updated_at = now()' : ''}
         WHERE (${typed.map((c) => guardExpr('t', c)).join(', ')}) IS DISTINCT FROM (${typed.map((c) => guardExpr('EXCLUDED', c)).join(', ')})`;
  const sql = `INSERT INTO ${qTable(spec.table)} AS t (${cols})
    SELECT ${cols} FROM json_to_recordset($1::json) AS x(${recordType})
    ON CONFLICT (${spec.key.map(q).join(', ')}) ${conflict}
    ${spec.returning ? `RETURNING ${spec.returning}` : ''}`;
  return inChunks<R>(client, sql, spec.columns, rows);
}

export interface UpdateSpec {
  table: string;
  /** Columns that find the row (the natural key). */
  key: string[];
  /** Columns sent; the key columns included. Only the non-key ones are set. */
  columns: Column[];
  /** Whether the table has updated_at (set to now()). */
  touchUpdatedAt?: boolean;
  returning?: string;
}

/**
 * Updates existing rows, set-based: `UPDATE ... FROM json_to_recordset ... WHERE key`. Unlike an upsert
 * with a partial column list, the columns not sent are not part of any proposed row, so NOT NULL
 * columns outside the list (a generated key's hash, a name) are never checked as NULL.
 */
export async function updateRows<R extends pg.QueryResultRow = pg.QueryResultRow>(
  client: pg.ClientBase,
  spec: UpdateSpec,
  rows: readonly Record<string, unknown>[],
): Promise<R[]> {
  const setCols = spec.columns.filter((c) => !spec.key.includes(c.name));
  const set = setCols.map((c) => c.name);
  if (rows.length === 0 || set.length === 0) return [];
  const recordType = spec.columns.map((c) => `${q(c.name)} ${c.type}`).join(', ');
  const sql = `UPDATE ${qTable(spec.table)} AS t SET ${set.map((c) => `${q(c)} = x.${q(c)}`).join(', ')}${spec.touchUpdatedAt ? ', updated_at = now()' : ''}
    FROM json_to_recordset($1::json) AS x(${recordType})
    WHERE ${spec.key.map((c) => `t.${q(c)} = x.${q(c)}`).join(' AND ')}
      AND (${setCols.map((c) => guardExpr('t', c)).join(', ')}) IS DISTINCT FROM (${setCols.map((c) => guardExpr('x', c)).join(', ')})
    ${spec.returning ? `RETURNING ${spec.returning}` : ''}`;
  return inChunks<R>(client, sql, spec.columns, rows);
}

/** JSON with sorted keys, so jsonb values compare equal regardless of key order. */
export function stableJson(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Equality of a desired value and the value PostgreSQL returned (numeric arrives as a string). */
export function sameValue(desired: unknown, actual: unknown): boolean {
  const d = desired === undefined ? null : desired;
  const a = actual === undefined ? null : actual;
  if (d === null || a === null) return d === a;
  if (typeof d === 'number') return Number(a) === d;
  if (typeof d === 'object' || typeof a === 'object') return stableJson(d) === stableJson(a);
  return d === a;
}

/** Runs `sql` once per chunk of rows, each sent as one JSON array of the `columns` (`$1`). */
async function inChunks<R extends pg.QueryResultRow>(client: pg.ClientBase, sql: string, columns: Column[], rows: readonly Record<string, unknown>[]): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < rows.length; i += CHUNK) {
    const chunk = rows.slice(i, i + CHUNK).map((r) => {
      const o: Record<string, unknown> = {};
      for (const c of columns) o[c.name] = jsonValue(r[c.name]);
      return o;
    });
    out.push(...(await client.query<R>(sql, [JSON.stringify(chunk)])).rows);
  }
  return out;
}
