/**
 * Puts the project's own schema (migrations/) into a bench database: with `migrator up` when it
 * works, else with node-pg-migrate's CLI (setup only, never timed; the seed tables are the same).
 */
import { resolve } from 'node:path';
import { ROOT } from './optional.ts';
import { withClient } from './server.ts';
import { run } from './timing.ts';

export interface Migrated {
  /** Which tool applied the schema, for the detail column. */
  readonly by: 'migrator' | 'node-pg-migrate';
}

async function hasTenants(url: string): Promise<boolean> {
  return withClient(url, async (c) => (await c.query(`SELECT to_regclass('public.tenants') IS NOT NULL AS ok`)).rows[0].ok === true);
}

export async function migrateProject(url: string, env: NodeJS.ProcessEnv = process.env): Promise<Migrated> {
  const dir = resolve(ROOT, 'migrations');
  const ours = await run(process.execPath, [resolve(ROOT, 'bin/migrator.mjs'), 'up', '--database-url', url, '--dir', dir], { cwd: ROOT, env });
  if (ours.code === 0 && (await hasTenants(url))) return { by: 'migrator' };
  const theirs = await run(
    process.execPath,
    [resolve(ROOT, 'node_modules/node-pg-migrate/bin/node-pg-migrate.js'), 'up', '-m', dir, '--no-single-transaction', '--verbose', 'false'],
    { cwd: ROOT, env: { ...env, DATABASE_URL: url } },
  );
  if (theirs.code === 0 && (await hasTenants(url))) return { by: 'node-pg-migrate' };
  const tail = (r: { stderr: string; stdout: string }) => (r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | ');
  throw new Error(`could not apply the project's migrations: migrator: ${tail(ours)}; node-pg-migrate: ${tail(theirs)}`);
}
