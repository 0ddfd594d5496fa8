/**
 * Change detection on the server, which is also the cast check: the desired rows of a section go to
 * PostgreSQL as one json_to_recordset typed with the live columns' own types (so every value is cast
 * exactly as the write will cast it), joined to the table by the natural key. Each row comes back with
 * whether it exists, its id, which compared columns differ (IS DISTINCT FROM, on the server's values:
 * no client-side guess about numeric or timestamp formats) and the stored values the special columns
 * need. A value that does not cast is located (savepoints; the error path only) and reported as
 * `file:line path: ... table.column (type)`.
 */
import type pg from 'pg';
import { qIdent, qTable } from '../sql.ts';
import { SeedValidationError, type SeedIssue } from '../errors.ts';
import type { Origin } from '../load.ts';

export interface DesiredRow {
  /** Column -> value (JSON); undefined and null are NULL. */
  values: Record<string, unknown>;
  /** Where the entry is, for a failed cast. */
  origin?: Origin;
}

export interface DiffSpec {
  table: string;
  /** Column -> server type. */
  types: ReadonlyMap<string, string>;
  /** Natural key columns (joined on). */
  key: string[];
  /** Columns compared with the stored row. */
  compare: string[];
  /** Id column to return, if any. */
  id?: string | null;
  /** Extra stored values: alias -> SQL over `t` (the stored row). */
  fetch?: Record<string, string>;
  /** Column -> field name, for messages. */
  fieldOf?: ReadonlyMap<string, string>;
  /** The line of a path in a seed file, for messages. */
  lineAt?: (file: string, path: readonly (string | number)[]) => number | undefined;
}

export interface DiffResult {
  found: boolean;
  id?: unknown;
  changed: string[];
  stored: Record<string, unknown>;
}

const CHUNK = 5000;
/** Types compared as jsonb / text, as they have no equality operator of their own. */
const compareExpr = (col: string, type: string) => {
  const c = qIdent(col);
  if (type === 'json') return `t.${c}::jsonb IS DISTINCT FROM x.${c}::jsonb`;
  if (/^(xml|point|line|lseg|box|path|polygon|circle)\b/.test(type)) return `t.${c}::text IS DISTINCT FROM x.${c}::text`;
  return `t.${c} IS DISTINCT FROM x.${c}`;
};

function recordColumns(spec: DiffSpec): string[] {
  return [...new Set([...spec.key, ...spec.compare])];
}

const rowJson = (cols: readonly string[], rows: readonly DesiredRow[], offset: number) =>
  JSON.stringify(rows.map((r, i) => Object.fromEntries([['__i', offset + i], ...cols.map((c) => [c, r.values[c] ?? null])])));

export async function diffRows(client: pg.ClientBase, spec: DiffSpec, rows: readonly DesiredRow[]): Promise<DiffResult[]> {
  const cols = recordColumns(spec);
  const recordType = ['"__i" int', ...cols.map((c) => `${qIdent(c)} ${spec.types.get(c)}`)].join(', ');
  const changed = spec.compare.filter((c) => !spec.key.includes(c));
  const fetch = Object.entries(spec.fetch ?? {});
  const select = [
    'x."__i" AS i',
    't.ctid IS NOT NULL AS found',
    ...(spec.id ? [`t.${qIdent(spec.id)} AS id`] : []),
    changed.length ? `ARRAY[${changed.map((c) => `CASE WHEN ${compareExpr(c, spec.types.get(c)!)} THEN ${lit(c)} END`).join(', ')}]::text[] AS changed` : `ARRAY[]::text[] AS changed`,
    ...fetch.map(([alias, sql], i) => `${sql} AS "__f${i}"`),
  ];
  const on = spec.key.map((c) => `t.${qIdent(c)} = x.${qIdent(c)}`).join(' AND ');
  const sql = `SELECT ${select.join(', ')} FROM json_to_recordset($1::json) AS x(${recordType}) LEFT JOIN ${qTable(spec.table)} t ON ${on || 'false'} ORDER BY x."__i"`;
  const out: DiffResult[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i += CHUNK) {
    const chunk = rows.slice(i, i + CHUNK);
    await client.query('SAVEPOINT seed_diff');
    let res;
    try {
      res = await client.query(sql, [rowJson(cols, chunk, i)]);
    } catch (e) {
      if (!isCastError(e)) throw e;
      await client.query('ROLLBACK TO SAVEPOINT seed_diff');
      throw new SeedValidationError(await locateCastFailures(client, spec, cols, chunk, e as Error));
    }
    await client.query('RELEASE SAVEPOINT seed_diff');
    for (const r of res.rows) {
      out[r.i] = {
        found: r.found === true,
        ...(spec.id ? { id: r.id } : {}),
        changed: r.found ? (r.changed as (string | null)[]).filter((c): c is string => !!c) : [],
        stored: Object.fromEntries(fetch.map(([alias], k) => [alias, r[`__f${k}`]])),
      };
    }
  }
  return out;
}

const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** Data exceptions (class 22: invalid text representation, out of range, ...) and invalid JSON values for a type. */
function isCastError(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return typeof code === 'string' && code.startsWith('22');
}

/** For each column whose values do not all cast, the first row that does not (bisection, under savepoints). */
async function locateCastFailures(client: pg.ClientBase, spec: DiffSpec, cols: readonly string[], rows: readonly DesiredRow[], original: Error): Promise<SeedIssue[]> {
  const issues: SeedIssue[] = [];
  const fails = async (col: string, part: readonly DesiredRow[]): Promise<string | undefined> => {
    await client.query('SAVEPOINT seed_cast');
    try {
      await client.query(`SELECT count(v) FROM json_to_recordset($1::json) AS x(v ${spec.types.get(col)})`, [JSON.stringify(part.map((r) => ({ v: r.values[col] ?? null })))]);
      await client.query('RELEASE SAVEPOINT seed_cast');
      return undefined;
    } catch (e) {
      await client.query('ROLLBACK TO SAVEPOINT seed_cast');
      if (!isCastError(e)) throw e;
      return (e as Error).message;
    }
  };
  for (const col of cols) {
    let message = await fails(col, rows);
    if (!message) continue;
    let lo = 0;
    let hi = rows.length;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      const m = await fails(col, rows.slice(lo, mid));
      if (m) {
        hi = mid;
        message = m;
      } else lo = mid;
    }
    const row = rows[lo]!;
    const field = spec.fieldOf?.get(col);
    const o = row.origin;
    const line = (o && field && spec.lineAt?.(o.file, [...o.at, field])) || o?.line;
    issues.push({
      file: o?.file ?? spec.table,
      path: [o?.path, field].filter(Boolean).join('.'),
      ...(line ? { line } : {}),
      message: `the value does not fit column ${spec.table}.${col} (${spec.types.get(col)}): ${message}`,
    });
  }
  if (issues.length === 0) issues.push({ file: spec.table, path: '', message: `a value does not fit table ${spec.table}: ${original.message}` });
  return issues;
}
