/**
 * Scaffold a migration that continues the folder's naming convention: the next 4-digit (or wider) index,
 * or a timestamp prefix in a folder that uses node-pg-migrate's timestamps (13-digit ms or 17-digit UTC).
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MigratorError } from '../errors.ts';
import { IGNORE_PATTERN } from './files.ts';

export interface CreateOptions {
  /** 'sql' (single file with Up/Down sections) or 'ts' (node-pg-migrate builder). Default 'sql'. */
  type?: 'sql' | 'ts';
}

const TEMPLATES = {
  sql: `-- Up Migration
-- Runs in its own transaction with lock_timeout and statement_timeout set by the migrator.
-- For CREATE INDEX CONCURRENTLY and the like, opt out with a line: -- migrator:no-transaction
-- Acknowledge a squawk finding with a reason: -- squawk-ignore <rule>: <why this is safe>


-- Down Migration

`,
  ts: `import type { MigrationBuilder } from 'node-pg-migrate';

// Runs in its own transaction with lock_timeout and statement_timeout set by the migrator
// (call pgm.noTransaction() to opt out, e.g. for CREATE INDEX CONCURRENTLY).
// Acknowledge a squawk finding with a reason: // squawk-ignore-file <rule>: <why this is safe>

export async function up(pgm: MigrationBuilder): Promise<void> {
}

export async function down(pgm: MigrationBuilder): Promise<void> {
}
`,
};

/** Create `<prefix>_<name>.<sql|ts>` in `dir` (created if missing); returns the new file's path. */
export async function create(dir: string, name: string, options: CreateOptions = {}): Promise<string> {
  const type = options.type ?? 'sql';
  if (!(type in TEMPLATES)) throw new MigratorError(`Unknown migration type ${type}: use sql or ts.`);
  const slug = name.trim().toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  if (!slug) throw new MigratorError(`Invalid migration name "${name}": use letters, digits and underscores.`);
  await mkdir(dir, { recursive: true });
  const prefix = await nextPrefix(dir);
  const path = join(dir, `${prefix}_${slug}.${type}`);
  if (existsSync(path)) throw new MigratorError(`${path} already exists.`);
  await writeFile(path, TEMPLATES[type], { flag: 'wx' });
  return path;
}

async function nextPrefix(dir: string): Promise<string> {
  const ignore = new RegExp(`^${IGNORE_PATTERN}$`);
  const names = (await readdir(dir)).filter((n) => !ignore.test(n));
  const prefixes = names.map((n) => /^(\d+)/.exec(n)?.[1]).filter((p): p is string => Boolean(p));
  const timestamp = prefixes.some((p) => p.length === 17) ? 'utc' : prefixes.some((p) => p.length === 13) ? 'timestamp' : undefined;
  if (timestamp) {
    // Loaded only for timestamped folders: node-pg-migrate's bundle is the heaviest import of the engine.
    const { Migration } = await import('node-pg-migrate');
    return Migration.getFilePrefix(timestamp, dir);
  }
  if (names.length > prefixes.length) {
    throw new MigratorError(`Cannot continue the naming of ${dir}: some files have no numeric prefix.`);
  }
  // node-pg-migrate's index format: last index + 1, zero-padded to the existing width (default 4).
  const width = Math.max(4, ...prefixes.map((p) => p.length));
  const next = Math.max(0, ...prefixes.map(Number)) + 1;
  return String(next).padStart(width, '0');
}
