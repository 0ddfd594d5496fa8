/**
 * The migration folder check's SQL parser (libpg-query, WebAssembly) in the real Lambda asset: kept out of
 * the esbuild bundle (it finds its .wasm beside its own files) and shipped in the asset's node_modules/,
 * so the asset works on its own, outside this repository; and never loaded by importing the handler.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, synthMigratorAsset, type MigratorAsset } from './support/asset.ts';

let asset: MigratorAsset;
let copy: string;
beforeAll(() => {
  asset = synthMigratorAsset({ migrationsDir: join(PROJECT_ROOT, 'migrations') });
  copy = mkdtempSync(join(tmpdir(), 'migrator-asset-'));
  cpSync(asset.dir, copy, { recursive: true });
}, 180_000);
afterAll(() => {
  asset?.cleanup();
  if (copy) rmSync(copy, { recursive: true, force: true });
});

describe('libpg-query in the Lambda asset', () => {
  it('ships as a package of its own, imported lazily by the bundle', () => {
    expect(existsSync(join(copy, 'node_modules/libpg-query/wasm/libpg-query.wasm'))).toBe(true);
    expect(existsSync(join(copy, 'node_modules/@pgsql/types/index.js'))).toBe(true);
    const bundle = readFileSync(join(copy, 'index.mjs'), 'utf8');
    expect(bundle).not.toMatch(/PgQueryModule/); // the emscripten glue is not inlined
    expect(bundle).toMatch(/import\(["']libpg-query["']\)/); // a dynamic import: loaded on first use only
  });

  it('parses from a copy of the asset outside the repository (no node_modules above it)', () => {
    writeFileSync(
      join(copy, 'probe.mjs'),
      "const m = await import('libpg-query'); await m.loadModule();\n" +
        "const r = await m.parse('DO $$ BEGIN PERFORM 1; END $$; COMMIT;');\n" +
        "console.log(JSON.stringify({ from: import.meta.resolve('libpg-query'), kinds: r.stmts.map((s) => Object.keys(s.stmt)[0]) }));\n",
    );
    const r = spawnSync(process.execPath, [join(copy, 'probe.mjs')], { cwd: copy, encoding: 'utf8', env: { PATH: process.env.PATH } });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.from).toBe(`file://${copy}/node_modules/libpg-query/wasm/index.cjs`);
    expect(out.kinds).toEqual(['DoStmt', 'TransactionStmt']);
  });
});
