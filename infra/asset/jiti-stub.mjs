// Stands in for jiti inside the Lambda bundle. node-pg-migrate imports jiti at load time, and the engine
// loads migration modules through node-pg-migrate's jiti instance; bundling jiti would add ~190 KB and
// cold-start time. In the bundle TypeScript is precompiled (.compiled/*.mjs) and JavaScript migrations are
// imported natively (Node 24 loads ESM or CommonJS syntax in a `.js` file without a "type" package.json).
import { pathToFileURL } from 'node:url';

export function createJiti() {
  const fail = () => {
    throw new Error('jiti is not bundled in the migrator Lambda: TypeScript migrations must be precompiled (.compiled/*.mjs)');
  };
  return {
    import: (id) => (/\.[cm]?ts$/.test(id) ? fail() : import(pathToFileURL(id).href)),
    esmResolve: fail,
  };
}
export default createJiti;
