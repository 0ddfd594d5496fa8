/**
 * Tests run what ships: the launcher runs dist/bin/migrator.js and the construct stages dist/lambda/index.mjs.
 * scripts/build.mjs (`npm run build`) rebuilds when a source is newer than the last build and otherwise
 * returns at once, so a test run never exercises a stale dist/.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function ensureBuilt(): void {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm run build failed:\n${r.stdout}${r.stderr}`);
}
