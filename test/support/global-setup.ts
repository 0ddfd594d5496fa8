/**
 * One PostgreSQL server for the whole test run: the server named by TEST_DATABASE_URL, or else an
 * embedded PostgreSQL started here. Each test file then creates its own database on it (see db.ts).
 */
import type { TestProject } from 'vitest/node';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../../local/embedded-postgres.ts';
import { ensureBuilt } from './build.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    serverUrl: string;
  }
}

export default async function setup(project: TestProject) {
  ensureBuilt();
  const given = process.env.TEST_DATABASE_URL;
  if (given) {
    project.provide('serverUrl', given);
    return;
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'migrator-test-pg-'));
  const pg = await startEmbeddedPostgres({ dataDir, fast: true });
  project.provide('serverUrl', pg.url);
  return async () => {
    await pg.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
}
