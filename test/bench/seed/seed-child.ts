/**
 * One seed run in its own process, as `migrator seed` runs: the bench parent keeps the KMS/Secrets
 * Manager stand-in in its process (so the two never share an event loop, as with the real services)
 * and reads the call counters there. Prints one JSON line: timings and the seed summary's counts.
 *
 * usage: node --import tsx seed-child.ts <databaseUrl> <seedsDir> <stage>
 * (AWS_ENDPOINT_URL_* and credentials come from the environment, as for any SDK client)
 */
import pg from 'pg';
import { performance } from 'node:perf_hooks';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

interface SeedModule {
  loadSeeds(o: { dir: string; stage: string }): unknown;
  seed(client: pg.ClientBase, o: { stage: string; seedSet?: unknown; concurrency?: number }): Promise<Record<string, unknown>>;
}

const [url, dir, stage] = process.argv.slice(2);
if (!url || !dir || !stage) {
  console.error('usage: seed-child.ts <databaseUrl> <seedsDir> <stage>');
  process.exit(2);
}
const root = resolve(import.meta.dirname, '..', '..', '..');
const mod = (await import(pathToFileURL(resolve(root, 'functions/core/seed/index.ts')).href)) as SeedModule;
const concurrency = process.env.BENCH_SEED_CONCURRENCY ? Number(process.env.BENCH_SEED_CONCURRENCY) : undefined;

const t0 = performance.now();
const seedSet = mod.loadSeeds({ dir, stage });
const t1 = performance.now();
const client = new pg.Client({ connectionString: url });
await client.connect();
let summary: Record<string, unknown>;
try {
  summary = await mod.seed(client, { stage, seedSet, concurrency });
} finally {
  await client.end();
}
const t2 = performance.now();
const { tables, keys, rowsWritten, counts } = summary;
console.log(JSON.stringify({ loadMs: t1 - t0, applyMs: t2 - t1, totalMs: t2 - t0, summary: { tables, keys, rowsWritten, counts } }));
