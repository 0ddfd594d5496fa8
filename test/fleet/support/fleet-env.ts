/**
 * A local fleet: N databases on the test server, each with an RDS-shaped secret under a prefix in the
 * KMS / Secrets Manager stand-in, a login role (cluster-global, dropped by close()), and the environment
 * the synthesized fleet functions would have. TLS is off: the local PostgreSQL serves plain TCP.
 */
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { bootstrapDev, startAwsStandIn, type AwsStandIn } from '../../../local/aws-standin/index.ts';

export interface LocalTarget {
  name: string;
  database: string;
  secretName: string;
  secretArn: string;
  url: string;
}

export interface LocalFleet {
  standIn: AwsStandIn;
  role: string;
  password: string;
  serverUrl: string;
  /** Creates `count` databases (with `prepare` run in each) and their secrets under `prefix`. */
  addTargets(prefix: string, count: number, prepare?: (c: pg.Client, index: number) => Promise<void>): Promise<LocalTarget[]>;
  /** Rewrites a target's secret (e.g. an unreachable port), as an operator would. */
  putSecret(t: LocalTarget, fields?: { port?: number }): Promise<void>;
  query<T extends pg.QueryResultRow = any>(t: LocalTarget, sql: string, params?: unknown[]): Promise<T[]>;
  env(extra?: Record<string, string>): Record<string, string>;
  close(): Promise<void>;
}

export async function startLocalFleet(serverUrl: string): Promise<LocalFleet> {
  const role = `fleet_admin_${randomBytes(4).toString('hex')}`;
  const password = `canary-fleet-password-${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE ROLE ${role} LOGIN SUPERUSER PASSWORD '${password}'`);
  const standIn = await startAwsStandIn();
  await bootstrapDev(standIn, { aliasName: 'alias/migrator-fleet-test', secrets: [] });
  const sm = new SecretsManagerClient({ ...standIn.clientConfig(), maxAttempts: 1 });
  const server = new URL(serverUrl);
  const databases: string[] = [];
  // One admin connection, one statement at a time (pg deprecates overlapping queries on a client).
  let chain: Promise<unknown> = Promise.resolve();
  const adminQuery = (sql: string) => {
    const p = chain.then(() => admin.query(sql));
    chain = p.catch(() => {});
    return p;
  };
  const shape = (database: string, port = Number(server.port || 5432)) =>
    JSON.stringify({ engine: 'postgres', host: server.hostname, port, username: role, password, dbname: database });
  const urlOf = (database: string) => {
    const u = new URL(serverUrl);
    u.username = role;
    u.password = password;
    u.pathname = `/${database}`;
    return u.toString();
  };

  return {
    standIn,
    role,
    password,
    serverUrl,
    async addTargets(prefix, count, prepare) {
      const tag = randomBytes(3).toString('hex');
      const targets: LocalTarget[] = [];
      for (let start = 0; start < count; start += 8) {
        const batch = Array.from({ length: Math.min(8, count - start) }, (_, k) => start + k);
        targets.push(
          ...(await Promise.all(
            batch.map(async (i) => {
              const name = `tenant-${String(i).padStart(3, '0')}`;
              const database = `fleet_${tag}_${i}`;
              await adminQuery(`CREATE DATABASE "${database}"`);
              databases.push(database);
              if (prepare) {
                const c = new pg.Client({ connectionString: urlOf(database) });
                await c.connect();
                try {
                  await prepare(c, i);
                } finally {
                  await c.end();
                }
              }
              const secretName = `${prefix}${name}`;
              const created = await sm.send(new CreateSecretCommand({ Name: secretName, SecretString: shape(database) }));
              return { name, database, secretName, secretArn: created.ARN!, url: urlOf(database) };
            }),
          )),
        );
      }
      return targets;
    },
    async putSecret(t, fields = {}) {
      await sm.send(new PutSecretValueCommand({ SecretId: t.secretArn, SecretString: shape(t.database, fields.port) }));
    },
    async query(t, sql, params) {
      const c = new pg.Client({ connectionString: t.url });
      await c.connect();
      try {
        return (await c.query(sql, params as any[])).rows;
      } finally {
        await c.end();
      }
    },
    env(extra = {}) {
      return {
        STAGE: 'staging',
        LEDGER_TABLE: 'local-ledger-unused',
        FLEET_NAME: 'local',
        DB_TLS: 'off',
        POWERTOOLS_SERVICE_NAME: 'migrator-fleet',
        POWERTOOLS_METRICS_NAMESPACE: 'PgTenantMigratorTest',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        ...standIn.clientEnv(),
        ...extra,
      };
    },
    async close() {
      sm.destroy();
      // Four connections drop in parallel (each DROP DATABASE waits for a checkpoint on a durable server).
      const queue = [...databases];
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          const c = new pg.Client({ connectionString: serverUrl });
          await c.connect();
          try {
            for (let d = queue.shift(); d; d = queue.shift()) await c.query(`DROP DATABASE IF EXISTS "${d}" WITH (FORCE)`).catch(() => {});
          } finally {
            await c.end();
          }
        }),
      );
      await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
      await admin.end();
      await standIn.stop();
    },
  };
}

/** Sets environment variables until the returned function restores them. */
export function setEnv(vars: Record<string, string | undefined>): () => void {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(vars)) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}
