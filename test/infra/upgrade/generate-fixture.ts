/**
 * Writes test/infra/fixtures/upgrade/resources-<stage>.json: the identity of every resource of the sample
 * stack. Generated once from main before the run-history/network changes (commit 584d1e7) and committed;
 * regenerate only for a deliberate, documented breaking change.
 *   node --import tsx test/infra/upgrade/generate-fixture.ts
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { FIXTURE, identities, synthSampleTemplate } from './replacement.ts';

for (const stage of ['staging', 'prod'] as const) {
  const outdir = mkdtempSync(join(tmpdir(), 'migrator-fixture-'));
  try {
    const file = FIXTURE(stage);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(identities(synthSampleTemplate(stage, outdir)), null, 2)}\n`);
    console.log(`wrote ${file}`);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
