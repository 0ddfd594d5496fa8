#!/usr/bin/env node
// Thin launcher: runs the compiled CLI (dist/, built by `npm run build`; `npm ci` and `npm pack` build it).
// No "is this file the entry point?" check: npx, node_modules/.bin and global installs start this file
// through a symlink, and the program must run however it is started.
const { run } = await import('../dist/bin/migrator.js');
await run();
