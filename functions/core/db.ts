/**
 * Opening PostgreSQL connections that survive a database that is still waking up (fresh RDS, paused
 * Aurora): every attempt has a connect timeout, failed attempts are retried with exponential backoff.
 */
import pg from 'pg';
import { MigratorError, oneLine } from './errors.ts';
import { redact } from './redact.ts';

/** A connection string or a full pg client config (e.g. built from an RDS secret, with `ssl`). */
export type ConnectionConfig = string | pg.ClientConfig;

export interface ConnectOptions {
  /** Give up one attempt after this long. Default 10 000 ms. */
  connectTimeoutMs?: number;
  /** Further attempts after the first fails. Default 5. */
  retries?: number;
  /** Delay before the first retry; doubles each time (with jitter). Default 500 ms. */
  initialDelayMs?: number;
  /** Upper bound for one delay. Default 8 000 ms. */
  maxDelayMs?: number;
  /** `application_name` shown in pg_stat_activity. Default 'migrator'. */
  applicationName?: string;
  /**
   * Session settings sent in the startup packet, so they hold from the first statement of the session
   * (e.g. `{ statement_timeout: 60000, lock_timeout: 10000, idle_in_transaction_session_timeout: 95000 }`).
   * Values are milliseconds or plain words; RESET returns to them.
   */
  sessionSettings?: Record<string, string | number>;
  /**
   * Client-side bound on each query: a server (or network) that stops answering mid-query ends with a
   * QueryTimeoutError naming the wait, and the connection is closed (pg's own `query_timeout` leaves it
   * stuck behind the unanswered query). Set it above the session's statement and lock timeouts, which end
   * a slow statement first with PostgreSQL's own error. Default none.
   */
  queryTimeoutMs?: number;
  /** Says what raises `queryTimeoutMs`, for its error (e.g. "raise --statement-timeout"). */
  queryTimeoutAdvice?: string;
  /**
   * Called right after each failed attempt that will be retried (before the wait), e.g. to print a line.
   * `attempts` is the total allowed. Never receives credentials.
   */
  onRetry?: (info: { attempt: number; attempts: number; delayMs: number; error: Error; cause: string; where: string }) => void;
}

/** The database could not be reached (or refused us); the message says what to check. */
export class ConnectError extends MigratorError {
  override name = 'ConnectError';
}

/** A connection string that is not a PostgreSQL URL; never retried, never echoed (it may hold a password). */
export class DatabaseUrlError extends MigratorError {
  override name = 'DatabaseUrlError';
}

// Retrying cannot help: bad credentials / authorization (28xxx), unknown database (3D000), unknown host.
const PERMANENT_SQLSTATE = /^(28|3D)/;
const PERMANENT_ERRNO = new Set(['ENOTFOUND']);

/**
 * Checks a connection string before anything connects: `postgres://` or `postgresql://`, a host (or
 * `?host=` for a socket folder), a numeric port. The message names the problem, never the string itself.
 */
export function checkDatabaseUrl(url: string): void {
  const bad = (why: string) =>
    new DatabaseUrlError(
      `The database URL (--database-url / DATABASE_URL) is not usable: ${why}. ` +
        'Expected postgres://USER:PASSWORD@HOST:PORT/DATABASE (percent-encode special characters in the password).',
    );
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad(/^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? 'it cannot be parsed as a URL' : 'it does not start with postgres:// or postgresql://');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw bad(`its scheme is "${u.protocol.slice(0, 20)}", not postgres: or postgresql:`);
  if (!u.hostname && !u.searchParams.get('host')) throw bad('it names no host');
  if (u.port && !/^\d+$/.test(u.port)) throw bad('its port is not a number');
}

/** A short name for why an attempt failed (for retry lines), e.g. "connection refused (ECONNREFUSED)". */
export function failureCause(error: Error & { code?: string }): string {
  const known: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ENOTFOUND: 'unknown host',
    EAI_AGAIN: 'DNS lookup failed for now',
    ETIMEDOUT: 'timed out',
    ECONNRESET: 'connection reset',
    EHOSTUNREACH: 'host unreachable',
    '28P01': 'password authentication failed',
    '28000': 'not authorized',
    '3D000': 'database does not exist',
    '57P03': 'the database is starting up',
  };
  if (error.code && known[error.code]) return `${known[error.code]} (${error.code})`;
  if (/timeout/i.test(error.message)) return 'connect timeout';
  return error.message.split('\n')[0]!.slice(0, 200);
}

/** What a person should check after the last attempt failed. */
function advice(error: Error & { code?: string }, where: string): string {
  switch (error.code) {
    case 'ECONNREFUSED':
      return `Check that PostgreSQL is running and listening on ${where.split('/')[0]}, and that the URL names the right host and port.`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'Check the host name in the URL (DNS does not know it), and the network or VPN this machine is on.';
    case '28P01':
    case '28000':
      return 'Check the user name and password in the URL (or the secret), and that pg_hba.conf allows this user from this host.';
    case '3D000':
      return 'Check the database name in the URL, or create the database.';
    default:
      return /timeout/i.test(error.message) || error.code === 'ETIMEDOUT'
        ? 'Check network access to the host (security groups, firewall, VPN), or raise --connect-timeout for a database that is still waking up.'
        : 'Check the URL, that the server is up, and that this machine can reach it.';
  }
}

/**
 * Connect a new `pg.Client`, retrying transient failures. The caller owns the client and must `end()` it.
 * Error messages name host, port and database but never the password.
 */
export async function connect(config: ConnectionConfig, options: ConnectOptions = {}): Promise<pg.Client> {
  const { connectTimeoutMs = 10_000, retries = 5, initialDelayMs = 500, maxDelayMs = 8_000 } = options;
  if (typeof config === 'string') checkDatabaseUrl(config);
  const base: pg.ClientConfig = typeof config === 'string' ? { connectionString: config } : config;
  const clientConfig: pg.ClientConfig = {
    application_name: options.applicationName ?? 'migrator',
    ...base,
    connectionTimeoutMillis: connectTimeoutMs,
    // TCP keepalive: a peer that vanished (network cut, frozen host) is noticed by the kernel.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    ...(options.sessionSettings ? { options: startupOptions(options.sessionSettings) } : {}),
  };
  const where = describe(clientConfig);
  for (let attempt = 0; ; attempt++) {
    const client = new pg.Client(clientConfig);
    // An idle client whose server goes away emits 'error'; without a listener that would crash the process.
    client.on('error', () => {});
    try {
      await client.connect();
      if (options.queryTimeoutMs) boundQueries(client, { timeoutMs: options.queryTimeoutMs, where, advice: options.queryTimeoutAdvice });
      return client;
    } catch (error) {
      await client.end().catch(() => {});
      const err = error as Error & { code?: string };
      const permanent = !!err.code && (PERMANENT_SQLSTATE.test(err.code) || PERMANENT_ERRNO.has(err.code));
      if (attempt >= retries || permanent) {
        throw new ConnectError(
          `Could not connect to PostgreSQL at ${where} after ${attempt + 1} attempt(s): ${err.message || failureCause(err)}` +
            `${permanent && attempt < retries ? ' (not retried: retrying cannot help)' : ''}. ${advice(err, where)}`,
          { cause: err },
        );
      }
      const delayMs = Math.round(Math.min(maxDelayMs, initialDelayMs * 2 ** attempt) * (0.75 + Math.random() * 0.5));
      options.onRetry?.({ attempt: attempt + 1, attempts: retries + 1, delayMs, error: err, cause: failureCause(err), where });
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}

/** A client-side bound on each query of a client (see ConnectOptions.queryTimeoutMs). */
export interface QueryBound {
  timeoutMs: number;
  /** host:port/database, for the message. */
  where: string;
  /** What raises the bound. */
  advice?: string;
}

/** No answer within the client-side bound: the server, or the network to it, stopped answering. */
export class QueryTimeoutError extends MigratorError {
  override name = 'QueryTimeoutError';
  constructor(readonly bound: QueryBound, readonly sql: string, options?: { cause?: unknown }) {
    const text = oneLine(redact(sql), 160);
    const waiting = /pg_advisory(_xact)?_lock|\bFOR\s+UPDATE\b/i.test(sql) ? `waiting for a lock (${JSON.stringify(text)})` : `running ${JSON.stringify(text)}`;
    super(
      `PostgreSQL at ${bound.where} did not answer within ${bound.timeoutMs} ms (the client-side bound) while ${waiting}: ` +
        'the server, or the network to it, stopped answering. The connection was closed, so the server rolls back its open transaction, if any, once it notices.' +
        (bound.advice ? ` ${bound.advice}` : ''),
      options,
    );
  }
}

const BOUNDS = new WeakMap<pg.ClientBase, QueryBound>();

/** The client-side bound `connect` gave `client`, if any (a second session of the same run takes it over). */
export function queryBoundOf(client: pg.ClientBase): QueryBound | undefined {
  return BOUNDS.get(client);
}

/**
 * Bound every promise-style query of `client`: when `timeoutMs` passes without an answer, the socket is
 * destroyed (so the query and everything queued after it fail at once, and the server ends the session)
 * and the query rejects with QueryTimeoutError. Callback and submittable queries (cursors) are left alone.
 */
export function boundQueries(client: pg.Client, bound: QueryBound): void {
  BOUNDS.set(client, bound);
  const original = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const first = args[0] as { text?: string; submit?: unknown } | string;
    if (typeof args.at(-1) === 'function' || (typeof first === 'object' && typeof first?.submit === 'function')) return original(...args);
    let fired = false;
    const timer = setTimeout(() => {
      fired = true;
      destroyClient(client);
    }, bound.timeoutMs);
    return (original(...args) as Promise<unknown>).then(
      (result) => (clearTimeout(timer), result),
      (error: unknown) => {
        clearTimeout(timer);
        throw fired ? new QueryTimeoutError(bound, typeof first === 'string' ? first : first?.text ?? '', { cause: error }) : error;
      },
    );
  };
}

/** Drop the connection now (no goodbye to a server that may not answer). */
export function destroyClient(client: pg.ClientBase): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

/**
 * `client.end()`, but never waiting more than `waitMs` for the server to acknowledge (a server that stopped
 * answering would hold it until TCP gives up): then the socket is destroyed.
 */
export async function closeClient(client: pg.ClientBase & { end(): Promise<void> }, waitMs = 2_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([client.end().catch(() => {}), new Promise((r) => (timer = setTimeout(r, waitMs)))]);
  clearTimeout(timer);
  destroyClient(client);
}

/** `-c name=value` pairs for the startup packet (libpq's `options`); names are checked, values escaped. */
export function startupOptions(settings: Record<string, string | number>): string {
  return Object.entries(settings)
    .map(([name, value]) => {
      if (!/^[a-z_][a-z0-9_.]*$/.test(name)) throw new Error(`Invalid session setting name ${JSON.stringify(name)}`);
      return `-c ${name}=${String(value).replace(/[\\ ]/g, (c) => `\\${c}`)}`;
    })
    .join(' ');
}

/** host:port/database of a connected client, for messages. */
export function whereOf(client: pg.ClientBase): string {
  const p = (client as unknown as { connectionParameters?: pg.ClientConfig }).connectionParameters;
  return p ? describe({ host: p.host, port: p.port, database: p.database }) : '(unknown database)';
}

/** host:port/database of a config, for messages; never includes the password. */
export function describe(config: pg.ClientConfig): string {
  if (config.connectionString) {
    try {
      const u = new URL(config.connectionString);
      return `${u.hostname}:${u.port || 5432}${u.pathname}`;
    } catch {
      return '(unparseable connection string)';
    }
  }
  return `${config.host ?? 'localhost'}:${config.port ?? 5432}/${config.database ?? ''}`;
}
