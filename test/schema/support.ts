/**
 * Helpers for the schema tests: apply the project's migrations with node-pg-migrate's own runner
 * (the schema is tested on its own, independent of the engine), and act as the application role.
 */
import { runner } from 'node-pg-migrate';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

/** The project's migrations folder, independent of the working directory. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

/** The application role and the setting its policies read (see migrations/0008_tenant_app_rls.sql). */
export const APP_ROLE = 'tenant_app';
export const TENANT_SETTING = 'app.tenant_id';
/** SQLSTATE raised by audit_log's append-only trigger. */
export const APPEND_ONLY_SQLSTATE = 'AO001';

/** Apply (up) or revert (down) `count` migrations; returns the names that ran. */
export async function migrate(
  databaseUrl: string,
  direction: 'up' | 'down' = 'up',
  count = Infinity,
): Promise<string[]> {
  // Our own client, ended before we return: node-pg-migrate's own (from databaseUrl) can still be closing
  // when the test drops its database WITH (FORCE), and a terminated client without a listener is an
  // uncaught error.
  const client = new pg.Client({ connectionString: databaseUrl });
  client.on('error', () => {});
  await client.connect();
  let ran: Awaited<ReturnType<typeof runner>>;
  try {
    ran = await runner({
      dbClient: client,
      dir: MIGRATIONS_DIR,
      direction,
      migrationsTable: 'pgmigrations',
      count,
      singleTransaction: false,
      log: () => {},
    });
  } finally {
    await client.end().catch(() => {});
  }
  return ran.map((m) => m.name);
}

/**
 * Switch this session to the application role for `tenantId` (null: no tenant set). Session-level
 * settings, so a rejected statement does not abort a surrounding transaction.
 */
export async function actAs(client: pg.Client, tenantId: string | null): Promise<void> {
  await client.query(`SET ROLE ${APP_ROLE}`);
  await client.query(`SELECT set_config($1, $2, false)`, [TENANT_SETTING, tenantId ?? '']);
}

/** Back to the session's own (owner/superuser) identity with no tenant set. */
export async function actAsOwner(client: pg.Client): Promise<void> {
  await client.query('RESET ROLE');
  await client.query(`SELECT set_config($1, '', false)`, [TENANT_SETTING]);
}

/** Run a statement expected to fail; returns the PostgreSQL error (and fails the test if none). */
export async function pgError(
  client: pg.Client,
  sql: string,
  params: unknown[] = [],
): Promise<{ code: string; message: string; constraint?: string; hint?: string }> {
  try {
    await client.query(sql, params);
  } catch (err) {
    const e = err as { code?: string; message: string; constraint?: string; hint?: string };
    return { code: e.code ?? '', message: e.message, constraint: e.constraint, hint: e.hint };
  }
  throw new Error(`expected this statement to fail, but it succeeded: ${sql}`);
}

/** Insert a tenant as the owner and return its id. */
export async function insertTenant(client: pg.Client, slug: string, name = slug.toUpperCase()): Promise<string> {
  const { rows } = await client.query<{ id: string }>(
    `INSERT INTO tenants (slug, name) VALUES ($1, $2) RETURNING id`,
    [slug, name],
  );
  return rows[0]!.id;
}

/** The claim query agent_tasks' partial index is built for (see migrations/0007). */
export const CLAIM_SQL = `
  WITH next AS (
    SELECT id FROM agent_tasks
    WHERE status = 'pending' AND run_after <= now()
    ORDER BY priority DESC, run_after, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
  )
  UPDATE agent_tasks t
  SET status = 'running', locked_at = now(), locked_by = $1, attempts = t.attempts + 1
  FROM next WHERE t.id = next.id
  RETURNING t.id::int AS id, t.tenant_id`;
