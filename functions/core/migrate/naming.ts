/**
 * Migration file names and the order they run in. node-pg-migrate orders migrations by the number their
 * names start with (17 digits: a UTC timestamp), then by the rest of the name; a name without a number
 * cannot be ordered at all. These checks turn that into one clear error and a warning a human can act on.
 */
import { MigratorError, type Problem } from '../errors.ts';

/** The file names (one per migration) in `dir` without a numeric prefix: one error naming them all, with a hint. */
export function assertNumbered(dir: string, fileNames: string[]): void {
  const bad = fileNames.filter((f) => !/^\d+/.test(f)).sort();
  if (bad.length === 0) return;
  const shown = bad.slice(0, 5).join(', ') + (bad.length > 5 ? `, and ${bad.length - 5} more` : '');
  throw new MigratorError(
    `${bad.length} migration file(s) in ${dir} do not start with a number: ${shown}. Migrations run in the order of ` +
      'the number each name starts with (for example 0001_create_users.sql, or a 17-digit UTC timestamp as ' +
      'node-pg-migrate writes). Rename them with numbers in the order they must run (Alembic revisions: follow ' +
      'their down_revision chain); `migrator create NAME` continues a numbered folder.',
  );
}

/** The number a migration name starts with, as its digits. */
const digits = (name: string) => /^\d+/.exec(name)![0];

/**
 * Numbers of different widths (`9_x`, `10_x`): the migrator runs them by value, but ls, editors and
 * review tools list `10_x` first. (Several files with one number are the folder check's `duplicate-number`.)
 */
export function namingWarnings(names: string[]): Problem[] {
  // 17 digits: node-pg-migrate's timestamps. One name per number: equal numbers are the folder check's.
  const seen = new Set<number>();
  const indexed = names.filter((n) => digits(n).length !== 17 && !seen.has(Number(digits(n))) && seen.add(Number(digits(n))));
  if (new Set(indexed.map((n) => digits(n).length)).size < 2) return [];
  const listed = [...indexed].sort();
  const first = indexed.findIndex((n, i) => n !== listed[i]);
  if (first < 0) return [];
  return [{
    name: indexed[first]!,
    kind: 'number-width',
    message: `Migration numbers have different widths: ${indexed[first]} runs before ${listed[first]}, but a plain listing shows ` +
      `${listed[first]} first. Pad the numbers to one width (e.g. 0009_, 0010_) so both orders agree.`,
  }];
}
