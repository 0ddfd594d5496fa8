/**
 * Migration file names and the order they run in. node-pg-migrate orders migrations by the number their
 * names start with (17 digits: a UTC timestamp), then by the rest of the name; a name without a number
 * cannot be ordered at all. These checks turn that into one clear error and warnings a human can act on.
 */
import { MigratorError } from '../errors.ts';

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
 * Names (in run order) whose order is not the one their numbers suggest to a reader: several files with
 * the same number (`001_x`, `001b_x`: the rest of the name decides, `001b_x` runs first), and numbers
 * of different widths (`9_x`, `10_x`: run by value, but listed `10_x` first by ls and editors).
 */
export function namingWarnings(names: string[]): string[] {
  const warnings: string[] = [];
  const byNumber = new Map<number, string[]>();
  for (const n of names) {
    const d = digits(n);
    if (d.length === 17) continue; // timestamps: equal ones are vanishingly rare and read as such
    const v = Number(d);
    byNumber.set(v, [...(byNumber.get(v) ?? []), n]);
  }
  for (const [v, same] of byNumber) {
    if (same.length > 1) {
      warnings.push(`${same.join(', ')} share the number ${v}: they run in this order, decided by the rest of the name. Give each its own number.`);
    }
  }
  const widths = new Set(names.map((n) => digits(n).length).filter((w) => w !== 17));
  if (widths.size > 1) {
    const lexical = [...names].filter((n) => digits(n).length !== 17).sort();
    const ordered = names.filter((n) => digits(n).length !== 17);
    const first = ordered.findIndex((n, i) => n !== lexical[i]);
    if (first >= 0) {
      warnings.push(
        `Migration numbers have different widths: ${ordered[first]} runs before ${lexical[first]}, but a plain listing shows ` +
          `${lexical[first]} first. Pad the numbers to one width (e.g. 0009_, 0010_) so both orders agree.`,
      );
    }
  }
  return warnings;
}
