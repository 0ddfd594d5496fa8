/**
 * The config file with named targets (functions/core/config/targets.ts) and `--target` / `--all` in the
 * real CLI, on a Reynard-like layout: three databases, each with its own migrations folder
 * (test/cli/fixtures/reynard/).
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchemaStale } from '../../functions/core/config/json-schema.ts';
import { loadTargetsConfig, selectTargets } from '../../functions/core/config/targets.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { LAUNCHER, spawnLauncher, type CliResult } from './helpers.ts';

const REYNARD = resolve(import.meta.dirname, 'fixtures/reynard');

let root: string;
let dbs: Record<'auth' | 'main' | 'ecs', TestDatabase>;
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'migrator-targets-'));
  cpSync(REYNARD, join(root, 'reynard'), { recursive: true });
  dbs = { auth: await createTestDatabase('auth'), main: await createTestDatabase('main'), ecs: await createTestDatabase('ecs') };
});
afterAll(async () => {
  rmSync(root, { recursive: true, force: true });
  await Promise.all(Object.values(dbs).map((d) => d.drop()));
});

const env = () => ({ AUTH_DATABASE_URL: dbs.auth.url, MAIN_DATABASE_URL: dbs.main.url, ECS_DATABASE_URL: dbs.ecs.url });

/** The real launcher, run in `cwd` (where it finds migrator.config.yaml). */
function migrator(cwd: string, args: string[], extra: Record<string, string> = {}): Promise<CliResult> {
  return spawnLauncher(LAUNCHER, args, { cwd, env: { PATH: process.env.PATH, ...extra } }).done;
}

/** A config file with `text` in a folder of its own. */
function configFile(text: string, name = 'migrator.config.yaml'): string {
  const dir = mkdtempSync(join(root, 'cfg-'));
  writeFileSync(join(dir, name), text);
  return join(dir, name);
}

describe('config file', () => {
  it('reads targets with folders relative to the file and defaults for table and schema', () => {
    const config = loadTargetsConfig(join(REYNARD, 'migrator.config.yaml'));
    expect(config.targets.map((t) => t.name)).toEqual(['auth', 'main', 'ecs']);
    expect(config.targets[2]).toEqual({
      name: 'ecs', databaseUrlEnv: 'ECS_DATABASE_URL', migrations: join(REYNARD, 'db/ecs/migrations'),
      migrationsTable: 'ecs_migrations', migrationsSchema: 'ecs', stage: 'local',
    });
    expect(config.targets[0]).toMatchObject({ migrationsTable: 'pgmigrations', migrationsSchema: 'public' });
    expect(selectTargets(config, { target: 'main' }).map((t) => t.name)).toEqual(['main']);
    expect(() => selectTargets(config, {})).toThrow(/names 3 targets \(auth, main, ecs\): pass --target NAME/);
    expect(() => selectTargets(config, { target: 'gatekeeper' })).toThrow(/Unknown target "gatekeeper".*names auth, main, ecs/);
  });

  it('refuses a password in a url (naming file, line and field, never echoing it), unknown fields and duplicate keys', () => {
    const withPassword = configFile('targets:\n  auth:\n    url: postgres://app:hunter2@db.internal:5432/auth\n');
    const err = (() => { try { loadTargetsConfig(withPassword); } catch (e) { return e as Error; } })()!;
    expect(err.message).toContain(`${withPassword}:3: targets.auth.url: `);
    expect(err.message).toMatch(/credentials|password/);
    expect(err.message).toContain('names the environment variable holding its URL (databaseUrlEnv)');
    expect(err.message).not.toContain('hunter2');
    expect(() => loadTargetsConfig(configFile('targets:\n  auth:\n    url: postgres://app@db/auth?password=x\n'))).toThrow(/:3: targets\.auth\.url: .*(password|credentials)/);
    expect(loadTargetsConfig(configFile('targets:\n  auth:\n    url: postgres://db.internal:5432/auth\n')).targets[0]!.url).toBe('postgres://db.internal:5432/auth');
    expect(() => loadTargetsConfig(configFile('targets:\n  auth:\n    dir: x\n'))).toThrow(/:3: targets\.auth\.dir: unknown field "dir"/);
    expect(() => loadTargetsConfig(configFile('targets:\n  auth: {}\n  auth: {}\n'))).toThrow(/malformed YAML/);
    expect(() => loadTargetsConfig(configFile('targets: {}\n'))).toThrow(/name at least one target/);
  });

  it('reads JSON as well, and the committed JSON Schema matches the zod definition', () => {
    const file = configFile('{"targets": {"main": {"databaseUrlEnv": "MAIN_DATABASE_URL", "migrations": "m"}}}', 'migrator.config.json');
    expect(loadTargetsConfig(file).targets).toEqual([
      expect.objectContaining({ name: 'main', migrations: join(file, '../m'), databaseUrlEnv: 'MAIN_DATABASE_URL' }),
    ]);
    // Regenerate with: migrator targets --write-schema
    expect(configSchemaStale()).toBe(false);
  });
});

describe('--target and --all (real CLI, Reynard-like layout)', () => {
  it('up --all migrates each database from its own folder into its own table; status/history/validate/plan --all report per target', async () => {
    const cwd = join(root, 'reynard');
    const up = await migrator(cwd, ['--quiet', 'up', '--all'], env()); // --quiet: no per-migration progress lines on stderr
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect(up.stdout).toBe([
      `== auth (${join(cwd, 'db/auth/migrations')})`, 'Applied 2 migration(s): 0001_users, 0002_roles',
      `== main (${join(cwd, 'db/main/migrations')})`, 'Applied 1 migration(s): 0001_notes',
      `== ecs (${join(cwd, 'db/ecs/migrations')})`, 'Applied 2 migration(s): 0001_world, 0002_naming', '',
    ].join('\n'));
    const ecs = await dbs.ecs.client();
    expect((await ecs.query('SELECT name FROM ecs.ecs_migrations ORDER BY id')).rows.map((r) => r.name)).toEqual(['0001_world', '0002_naming']);
    const auth = await dbs.auth.client();
    expect((await auth.query(`SELECT to_regclass('notes') AS n, to_regclass('users') AS u`)).rows[0]).toEqual({ n: null, u: 'users' });

    const status = await migrator(cwd, ['status', '--all', '--json'], env());
    expect(status.code).toBe(0);
    const s = JSON.parse(status.stdout);
    expect(Object.keys(s.targets)).toEqual(['auth', 'main', 'ecs']);
    expect(s.targets.main).toMatchObject({ applied: [{ name: '0001_notes' }], pending: [], problems: [] });
    expect((await migrator(cwd, ['validate', '--all'], env())).code).toBe(0);
    expect((await migrator(cwd, ['plan', '--all'], env())).stdout).toContain('== ecs');
    const h = JSON.parse((await migrator(cwd, ['history', '--target', 'ecs', '--json'], env())).stdout);
    expect(h.map((e: { name: string }) => e.name)).toEqual(['0001_world', '0002_naming']);
  });

  it('--target runs commands without --all on one target; a target whose variable is unset fails for that target only', async () => {
    const cwd = join(root, 'reynard');
    const down = await migrator(cwd, ['down', '--target', 'ecs', '--count', '1'], env());
    expect(down).toMatchObject({ code: 0, stdout: 'Reverted 1 migration(s): 0002_naming\n' });
    const { AUTH_DATABASE_URL, ECS_DATABASE_URL } = env();
    const partial = await migrator(cwd, ['--quiet', 'up', '--all'], { AUTH_DATABASE_URL, ECS_DATABASE_URL });
    expect(partial.code).toBe(1);
    expect(partial.stderr).toBe('error: [main] Target "main" reads its database URL from MAIN_DATABASE_URL, which is not set.\n');
    expect(partial.stdout).toContain('Applied 1 migration(s): 0002_naming');
  });

  it('usage mistakes are one clear error each; a target with a protected stage refuses down', async () => {
    const cwd = join(root, 'reynard');
    const several = await migrator(cwd, ['status'], env());
    expect(several.code).toBe(1);
    expect(several.stderr).toMatch(/migrator\.config\.yaml names 3 targets \(auth, main, ecs\): pass --target NAME/);
    expect((await migrator(cwd, ['up', '--all', '--dir', 'x'], env())).stderr).toMatch(/--all runs on each target's own database and folder: drop --dir/);
    expect((await migrator(root, ['status', '--target', 'auth'], env())).stderr).toMatch(/--target needs a config file/);
    const listed = await migrator(cwd, ['targets'], env());
    expect(listed.stdout).toBe([
      'auth  $AUTH_DATABASE_URL  db/auth/migrations  public.pgmigrations  stage local',
      'main  $MAIN_DATABASE_URL  db/main/migrations  public.pgmigrations  stage local',
      'ecs  $ECS_DATABASE_URL  db/ecs/migrations  ecs.ecs_migrations  stage local', '',
    ].join('\n'));
    expect((await migrator(root, ['status', '--config', join(cwd, 'migrator.config.yaml'), '--target', 'main'], env())).code).toBe(0);
    // The target's stage decides like --stage: a protected stage never runs down (refused before connecting).
    const prod = configFile('targets:\n  main:\n    databaseUrlEnv: MAIN_DATABASE_URL\n    migrations: m\n    stage: prod\n');
    const refused = await migrator(root, ['down', '--config', prod, '--count', '1'], env());
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/prod/);
    expect(refused.stderr).toMatch(/protected/i);
  });
});
