/**
 * node-pg-migrate at run time: its bundle, imported lazily, and the conventions of calling a migration's
 * actions. The runner (runner.ts) and the renderer (render.ts) share these.
 */
import type { MigrationBuilder } from 'node-pg-migrate';
import type { MigrationAction } from './files.ts';

/**
 * node-pg-migrate's bundle (runner, MigrationBuilder; it also loads glob and jiti) is imported only when a
 * migration has to run or be rendered: validation and "nothing to apply" never need it.
 */
export function nodePgMigrate(): Promise<typeof import('node-pg-migrate')> {
  return import('node-pg-migrate');
}

export async function call(action: MigrationAction, pgm: MigrationBuilder): Promise<void> {
  if (action.length >= 2) await new Promise<void>((done) => void action(pgm, done));
  else await action(pgm);
}

export function silentLogger() {
  const nothing = () => {};
  return { debug: nothing, info: nothing, warn: nothing, error: nothing };
}
