#!/usr/bin/env node
// Thin launcher: registers tsx so the TypeScript CLI (and TypeScript migrations) load without a build step.
import { register } from 'tsx/esm/api';
register();
await import('./migrator.ts');
