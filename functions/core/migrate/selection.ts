/** Which migrations a command acts on: the pending ones, up to a `--to` name or unique prefix. */
import { MigratorError } from '../errors.ts';
import type { MigrationFile } from './files.ts';
import type { DbState } from './state.ts';

export function pendingOf(files: MigrationFile[], state: DbState): MigrationFile[] {
  const applied = new Set(state.applied.map((r) => r.name));
  return files.filter((f) => !applied.has(f.name));
}

/**
 * The migration `to` names: its full name, or a prefix only one migration (file or applied row) starts
 * with, so `--to 0009` works. Several candidates: an error listing them.
 */
export function resolveName(files: MigrationFile[], state: DbState, to: string): string {
  const names = [...new Set([...files.map((f) => f.name), ...state.applied.map((r) => r.name)])];
  if (names.includes(to)) return to;
  const candidates = names.filter((n) => n.startsWith(to));
  if (candidates.length > 1) throw new MigratorError(`"${to}" matches several migrations (${candidates.join(', ')}): give more of the name.`);
  return candidates[0] ?? to;
}

export function upTo(pending: MigrationFile[], files: MigrationFile[], state: DbState, given: string): MigrationFile[] {
  const to = resolveName(files, state, given);
  const index = pending.findIndex((f) => f.name === to);
  if (index >= 0) return pending.slice(0, index + 1);
  if (state.applied.some((r) => r.name === to)) return [];
  const known = files.map((f) => f.name).join(', ') || 'none';
  throw new MigratorError(`Unknown migration ${to}: no such file in the migrations folder (migrations: ${known}).`);
}

export function last(state: DbState): string | null {
  return state.applied.at(-1)?.name ?? null;
}
