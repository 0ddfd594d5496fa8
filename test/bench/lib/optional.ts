/**
 * Loading pieces that other parts of the project provide and that may not exist yet.
 * The bench imports them by path at run time, so it type-checks and runs before they land, and
 * a missing piece becomes a "not available yet (reason)" row instead of a crash.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export const ROOT = resolve(import.meta.dirname, '..', '..', '..');

export class Unavailable extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'Unavailable';
  }
}

/** The first of `candidates` (repo-relative) that exists, or throws Unavailable naming them. */
export function findFile(candidates: readonly string[], what: string): string {
  for (const c of candidates) {
    const p = resolve(ROOT, c);
    if (existsSync(p)) return p;
  }
  throw new Unavailable(`${what}: none of ${candidates.join(', ')} exists`);
}

/** Imports a module by absolute path, as an untyped record the caller checks. */
export async function importModule(path: string): Promise<Record<string, unknown>> {
  return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
}

/** The named export as a function, or Unavailable naming what is missing. */
export function exportedFunction<F extends (...args: never[]) => unknown>(mod: Record<string, unknown>, name: string, from: string): F {
  const f = mod[name];
  if (typeof f !== 'function') throw new Unavailable(`${from} has no export ${name}()`);
  return f as F;
}

export function reasonOf(e: unknown): string {
  if (e instanceof Unavailable) return e.message;
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0]!.slice(0, 200);
}
