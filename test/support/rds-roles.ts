/**
 * A database as RDS sets one up, for the lock tests: the migrator connects as the database's owner, a role
 * with CREATEDB and CREATEROLE but not superuser (RDS's master user; rds_superuser is not a superuser), and
 * an application role that, in the worst case, gets every privilege on every table the owner creates.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { serverUrl } from './db.ts';

export interface RdsLikeDatabase {
  readonly ownerUrl: string;
  readonly appUrl: string;
  /** A connected client (ended by `drop`), with its own application_name. */
  as(url: string, applicationName?: string): Promise<pg.Client>;
  /** Ends every client, drops the database and both roles. */
  drop(): Promise<void>;
}

/** Creates the two roles and their database on the test server; `name` makes the names readable. */
export async function rdsLikeDatabase(name: string): Promise<RdsLikeDatabase> {
  const suffix = randomBytes(4).toString('hex');
  const owner = `${name}_owner_${suffix}`;
  const app = `${name}_app_${suffix}`;
  const db = `${name}_${suffix}`;
  const password = `pw-${suffix}`;
  const urlFor = (user: string) => {
    const u = new URL(serverUrl());
    u.username = user;
    u.password = password;
    u.pathname = `/${db}`;
    return u.toString();
  };
  const opened: pg.Client[] = [];
  const as = async (url: string, applicationName = 'test') => {
    const c = new pg.Client({ connectionString: url, application_name: applicationName });
    c.on('error', () => {});
    await c.connect();
    opened.push(c);
    return c;
  };
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  await admin.query(`CREATE ROLE ${owner} LOGIN CREATEDB CREATEROLE PASSWORD '${password}'`);
  await admin.query(`CREATE ROLE ${app} LOGIN PASSWORD '${password}'`);
  await admin.query(`CREATE DATABASE ${db} OWNER ${owner}`);
  const ownerUrl = urlFor(owner);
  const o = await as(ownerUrl);
  await o.query(`GRANT USAGE ON SCHEMA public TO ${app}`);
  await o.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO ${app}`);
  return {
    ownerUrl,
    appUrl: urlFor(app),
    as,
    async drop() {
      await Promise.all(opened.map((c) => c.end().catch(() => {})));
      await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => {});
      await admin.query(`DROP ROLE IF EXISTS ${app}`).catch(() => {});
      await admin.query(`DROP OWNED BY ${owner}`).catch(() => {});
      await admin.query(`DROP ROLE IF EXISTS ${owner}`).catch(() => {});
      await admin.end();
    },
  };
}
