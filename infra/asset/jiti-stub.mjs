// Stands in for jiti inside the Lambda bundle. node-pg-migrate imports jiti at load time for its default
// loader, but the engine loads migrations itself (SQL parsed, TypeScript precompiled to .compiled/*.mjs),
// so jiti is never called there; bundling it would add ~190 KB and cold-start time for nothing.
export function createJiti() {
  const fail = () => {
    throw new Error('jiti is not bundled in the migrator Lambda: TypeScript migrations must be precompiled (.compiled/*.mjs)');
  };
  return { import: fail, esmResolve: fail };
}
export default createJiti;
