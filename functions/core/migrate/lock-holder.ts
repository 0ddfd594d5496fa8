/**
 * Who holds a migration lock: the session (pid, application_name, user, client address, since when, its
 * state and its current or last query, truncated and masked), for the lock-wait error and `migrator unlock`.
 */
import pg from 'pg';
import { redact } from '../redact.ts';
import type { Tables } from './state.ts';

export interface LockHolder {
  pid: number;
  applicationName: string;
  user: string | null;
  clientAddr: string | null;
  backendStart: Date | null;
  /** When the session's state last changed (idle since / active since). */
  stateChange: Date | null;
  /** active | idle | idle in transaction | ... (null when not visible to this role) */
  state: string | null;
  /** Current (active) or last query, one line, at most 160 characters, password literals masked. */
  query: string | null;
}

const ACTIVITY = `SELECT a.pid, a.application_name, a.usename, a.client_addr::text AS client_addr, a.backend_start, a.state_change, a.state, a.query
  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid`;

/**
 * Sessions holding a target's migration lock: the lock table's row lock (they hold a RowShareLock on the
 * table, which no one else takes: nobody else may read it), and the advisory lock earlier versions took.
 */
export async function migrationLockHolders(client: pg.ClientBase, t: Tables): Promise<LockHolder[]> {
  const lockTable = `${pg.escapeIdentifier(t.schema)}.${pg.escapeIdentifier(`${t.table}_lock`)}`;
  const { rows } = await client.query(
    `${ACTIVITY}
      WHERE l.locktype = 'relation' AND l.granted AND l.mode = 'RowShareLock' AND l.relation = to_regclass($1)
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.pid <> pg_backend_pid()`,
    [lockTable],
  );
  const seen = new Set<number>();
  const out: LockHolder[] = [];
  for (const h of [...rows.map(toHolder), ...(await advisoryLockHolders(client, t.lockKey))]) {
    if (!seen.has(h.pid)) out.push(h), seen.add(h.pid);
  }
  return out;
}

/**
 * Sessions holding the session advisory lock `key` (bigint as text) in this database. A bigint key is stored
 * in pg_locks as classid (high 32 bits), objid (low 32 bits), objsubid 1.
 */
export async function advisoryLockHolders(client: pg.ClientBase, key: string): Promise<LockHolder[]> {
  const { rows } = await client.query(
    `${ACTIVITY}
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid = ((($1::bigint >> 32) & 4294967295)::bigint)::oid
        AND l.objid = (($1::bigint & 4294967295)::bigint)::oid
        AND l.pid <> pg_backend_pid()`,
    [key],
  );
  return rows.map(toHolder);
}

function toHolder(r: Record<string, any>): LockHolder {
  return {
    pid: r.pid,
    applicationName: r.application_name ?? '',
    user: r.usename,
    clientAddr: r.client_addr,
    backendStart: r.backend_start,
    stateChange: r.state_change,
    state: r.state,
    query: r.query ? oneLine(redact(r.query), 160) : null,
  };
}

/** One line naming the holder, for messages. */
export function describeHolder(h: LockHolder): string {
  const parts = [
    `pid ${h.pid}`,
    `application_name "${h.applicationName}"`,
    h.user ? `user ${h.user}` : undefined,
    `client ${h.clientAddr ?? 'local socket'}`,
    h.backendStart ? `connected since ${h.backendStart.toISOString()}` : undefined,
    h.state ? `${h.state}${h.stateChange ? ` since ${h.stateChange.toISOString()}` : ''}` : 'state not visible to this role',
    h.query ? `${h.state === 'active' ? 'running' : 'last query'}: ${JSON.stringify(h.query)}` : undefined,
  ];
  return parts.filter(Boolean).join(', ');
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
