#!/usr/bin/env node
// Thin launcher: runs the compiled CLI (dist/, built by `npm run build`; `npm ci` and `npm pack` build it).
await import('../dist/bin/migrator.js');
