#!/usr/bin/env node
// Thin launcher: registers tsx so the TypeScript CLI (and TypeScript migrations) load without a build step,
// then runs the program. No "is this file the entry point?" check: npx, node_modules/.bin and global
// installs start this file through a symlink, and the program must run however it is started.
import { register } from 'tsx/esm/api';
register();
const { run } = await import('./migrator.ts');
await run();
