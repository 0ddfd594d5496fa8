/**
 * `DatabaseMigrations` runs every migration in its Lambda function, within the 15-minute limit. A migration
 * marked long-running (`-- migrator:long-running`, `export const longRunning = true`) is meant for a runner
 * without that limit: say so at synth, naming the files, instead of letting a deploy time out.
 */
import { Annotations } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The same markers as functions/core/migrate/long-running.ts (read as text here: no module is loaded at synth). */
const SQL_MARKER = /^\s*--\s*migrator:long-running\b/im;
const MODULE_MARKER = /^\s*export\s+const\s+longRunning\s*(?::\s*\w+\s*)?=\s*true\b/m;
const MODULE = /\.(?:[cm]?ts|[cm]?js)$/;

/** Files of `migrationsDir` (top level, as the loader reads them) marked long-running. */
export function markedLongRunning(migrationsDir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(migrationsDir).sort()) {
    const path = join(migrationsDir, name);
    if (name.startsWith('.') || name.endsWith('.d.ts') || !statSync(path).isFile()) continue;
    const marker = name.endsWith('.sql') ? SQL_MARKER : MODULE.test(name) ? MODULE_MARKER : undefined;
    if (marker?.test(readFileSync(path, 'utf8'))) out.push(name);
  }
  return out;
}

/** A synth warning on `c` when its migrations include long-running ones. */
export function warnLongRunning(c: Construct, migrationsDir: string): void {
  const files = markedLongRunning(migrationsDir);
  if (files.length === 0) return;
  Annotations.of(c).addWarningV2(
    'pg-tenant-migrator:longRunningInLambda',
    `${files.join(', ')} ${files.length === 1 ? 'is' : 'are'} marked long-running, but DatabaseMigrations runs every migration in its ` +
      `Lambda function (at most 15 minutes; a deploy that runs out of time fails and the migration rolls back). ` +
      `Run this database through DatabaseFleetMigrations with one static target, whose long-running runner (CodeBuild) has no such limit.`,
  );
}
