/**
 * Row counts and write counters per table, read from PostgreSQL itself.
 * pg_stat_user_tables is flushed by each backend when it ends (or within a second or so when idle),
 * so `settledWrites` first waits until no other session is connected to the database.
 */
import { withClient } from '../lib/server.ts';
import { sleep } from '../lib/timing.ts';

export type TableCounts = Record<string, number>;

export async function rowCounts(url: string): Promise<TableCounts> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`);
    const out: TableCounts = {};
    for (const { t } of rows) {
      const r = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM public."${t}"`);
      out[t] = r.rows[0]!.n;
    }
    return out;
  });
}

/** Waits until no other session is connected to `url`'s database, so their statistics are flushed. */
export async function waitForIdle(url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = await withClient(url, async (c) => {
      const { rows } = await c.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
      );
      return rows[0]!.n;
    });
    if (n === 0) return;
    if (Date.now() > deadline) throw new Error(`${n} session(s) still connected to the database after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** Inserted + updated + deleted tuples per table since the database was created (flushed stats only). */
export async function settledWrites(url: string): Promise<TableCounts> {
  await waitForIdle(url);
  // A flush at backend exit can trail the disconnect by a moment; a short pause makes the read stable.
  await sleep(300);
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ t: string; n: string }>(
      `SELECT relname AS t, (n_tup_ins + n_tup_upd + n_tup_del)::text AS n FROM pg_stat_user_tables WHERE schemaname = 'public'`,
    );
    return Object.fromEntries(rows.map((r) => [r.t, Number(r.n)]));
  });
}

/** Per-table difference `after - before`, zero entries dropped. */
export function diffCounts(before: TableCounts, after: TableCounts): TableCounts {
  const out: TableCounts = {};
  for (const [t, n] of Object.entries(after)) {
    const d = n - (before[t] ?? 0);
    if (d !== 0) out[t] = d;
  }
  return out;
}

export function sumCounts(c: TableCounts): number {
  return Object.values(c).reduce((a, b) => a + b, 0);
}

export function countsText(c: TableCounts): string {
  const entries = Object.entries(c).sort(([a], [b]) => a.localeCompare(b));
  return entries.length ? entries.map(([t, n]) => `${t} ${n}`).join(', ') : 'none';
}
