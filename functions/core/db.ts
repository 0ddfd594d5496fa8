/**
 * Opening PostgreSQL connections that survive a database that is still waking up (fresh RDS, paused
 * Aurora): every attempt has a connect timeout, failed attempts are retried with exponential backoff.
 */
import pg from 'pg';

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
   * Client-side bound on each query (pg's `query_timeout`): a server that stops answering mid-query ends
   * with an error instead of a wait without end. Default none.
   */
  queryTimeoutMs?: number;
  /** Called before each retry, e.g. to log. Never receives credentials. */
  onRetry?: (info: { attempt: number; delayMs: number; error: Error }) => void;
}

// SQLSTATE classes where retrying cannot help: bad credentials / authorization, unknown database.
const PERMANENT = /^(28|3D)/;

/**
 * Connect a new `pg.Client`, retrying transient failures. The caller owns the client and must `end()` it.
 * Error messages name host, port and database but never the password.
 */
export async function connect(config: ConnectionConfig, options: ConnectOptions = {}): Promise<pg.Client> {
  const { connectTimeoutMs = 10_000, retries = 5, initialDelayMs = 500, maxDelayMs = 8_000 } = options;
  const base: pg.ClientConfig = typeof config === 'string' ? { connectionString: config } : config;
  const clientConfig: pg.ClientConfig = {
    application_name: options.applicationName ?? 'migrator',
    ...base,
    connectionTimeoutMillis: connectTimeoutMs,
    // TCP keepalive: a peer that vanished (network cut, frozen host) is noticed by the kernel.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    ...(options.sessionSettings ? { options: startupOptions(options.sessionSettings) } : {}),
    ...(options.queryTimeoutMs ? { query_timeout: options.queryTimeoutMs } : {}),
  };
  for (let attempt = 0; ; attempt++) {
    const client = new pg.Client(clientConfig);
    // An idle client whose server goes away emits 'error'; without a listener that would crash the process.
    client.on('error', () => {});
    try {
      await client.connect();
      return client;
    } catch (error) {
      await client.end().catch(() => {});
      const err = error as Error & { code?: string };
      if (attempt >= retries || (err.code && PERMANENT.test(err.code))) {
        throw new Error(
          `Could not connect to PostgreSQL at ${describe(clientConfig)} after ${attempt + 1} attempt(s): ${err.message}`,
          { cause: err },
        );
      }
      const delayMs = Math.min(maxDelayMs, initialDelayMs * 2 ** attempt) * (0.75 + Math.random() * 0.5);
      options.onRetry?.({ attempt: attempt + 1, delayMs: Math.round(delayMs), error: err });
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
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
