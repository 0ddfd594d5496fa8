/**
 * `migrator lint`: squawk over the up SQL of pending migrations (TypeScript migrations rendered to SQL
 * first, as `plan` does). Every squawk finding fails the lint, unless the migration acknowledges it in
 * its own file, with a reason:
 *
 *   SQL:        -- squawk-ignore <rule>[, <rule>]: <reason>        (next statement)
 *               -- squawk-ignore-file <rule>[, <rule>]: <reason>   (whole migration)
 *   TypeScript: // squawk-ignore-file <rule>[, <rule>]: <reason>   (whole migration)
 *
 * The reason may also follow ` -- ` (`-- squawk-ignore <rule> -- <reason>`) or be the comment line right
 * above the acknowledgement. An acknowledgement without a reason is itself a finding
 * (`ignore-without-reason`). Reasons are stripped before squawk sees the comment (its syntax has rule names only).
 * `require-lock-timeout` and `require-statement-timeout` are excluded: the engine sets both for every migration.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { MigratorError } from '../errors.ts';
import { status } from './engine.ts';
import { renderUp } from './render.ts';
import { listMigrations, readMigrationText, type MigrationFile } from './files.ts';
import { rel } from './state.ts';
import type { MigrationTarget } from './types.ts';

export interface LintFinding {
  migration: string;
  file: string;
  /** Line in the migration source (SQL files) or in the rendered SQL (TypeScript), 1-based. */
  line: number;
  rule: string;
  message: string;
  help?: string;
}
export interface LintResult {
  /** Migrations linted. */
  checked: string[];
  findings: LintFinding[];
}
export interface LintOptions {
  /** Lint every migration, not only pending ones (also what happens when no database is given). */
  all?: boolean;
  /** squawk executable; default the one installed with squawk-cli. */
  squawkPath?: string;
}

const ENGINE_SETS = ['require-lock-timeout', 'require-statement-timeout'];
const IGNORE_COMMENT = /^(\s*)(--|\/\/)\s*squawk-ignore(-file)?\b([^\n]*)$/gm;

/** Lint pending migrations (all when `options.all` or when the target has no database). */
export async function lint(target: MigrationTarget, options: LintOptions = {}): Promise<LintResult> {
  const files = await listMigrations(target.dir);
  let chosen = files;
  if (!options.all && (target.client || target.databaseUrl)) {
    const pending = new Set((await status(target)).pending.map((p) => p.name));
    chosen = files.filter((f) => pending.has(f.name));
  }
  const rendered = await renderUp(files, chosen);
  const work = await mkdtemp(join(tmpdir(), 'migrator-lint-'));
  const findings: LintFinding[] = [];
  try {
    const byPath = new Map<string, { file: MigrationFile; offset: number }>();
    const groups: Record<'tx' | 'notx', string[]> = { tx: [], notx: [] };
    for (const [i, plan] of rendered.entries()) {
      const file = chosen[i]!;
      const source = readMigrationText(file.path); // strict: UTF-8, regular file inside the folder
      findings.push(...reasonless(file, source, 'source'));
      if (file.kind === 'module') findings.push(...reasonless(file, plan.sql, 'rendered'));
      let sql = plan.sql;
      if (file.kind === 'module') {
        const fileIgnores = [...source.matchAll(IGNORE_COMMENT)].filter((m) => m[2] === '//' && m[3]);
        sql = fileIgnores.map((m) => `-- squawk-ignore-file ${rules(m[4]!)}\n`).join('') + sql;
      }
      sql = sql.replace(IGNORE_COMMENT, (_all, indent: string, lead: string, file: string | undefined, rest: string) =>
        lead === '--' ? `${indent}-- squawk-ignore${file ?? ''} ${rules(rest)}` : _all);
      const path = join(work, `${String(i).padStart(4, '0')}.sql`);
      await writeFile(path, sql);
      const offset = file.kind === 'sql' ? lineOffset(source, plan.sql) : 0;
      byPath.set(path, { file, offset });
      groups[plan.transaction ? 'tx' : 'notx'].push(path);
    }
    for (const [group, paths] of Object.entries(groups)) {
      if (paths.length === 0) continue;
      const args = ['--reporter', 'json', `--exclude=${ENGINE_SETS.join(',')}`, ...(group === 'tx' ? ['--assume-in-transaction'] : []), ...paths];
      for (const f of await squawk(options.squawkPath ?? squawkBinary(), args)) {
        const origin = byPath.get(f.file) ?? [...byPath.entries()].find(([p]) => p.endsWith(f.file))?.[1];
        if (!origin) continue;
        findings.push({
          migration: origin.file.name,
          file: rel(origin.file.path),
          line: f.line + 1 + origin.offset,
          rule: f.rule_name,
          message: f.message,
          help: f.help ?? undefined,
        });
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return { checked: chosen.map((f) => f.name), findings };
}

/** Rule names of an acknowledgement, without its reason. */
function rules(rest: string): string {
  return rest.split(/:|\s--/)[0]!.trim();
}

/**
 * Acknowledgements that give no rule or no reason. A reason is text after `:` or ` -- ` on the same line,
 * or a plain comment line right above.
 */
function reasonless(file: MigrationFile, text: string, where: 'source' | 'rendered'): LintFinding[] {
  const out: LintFinding[] = [];
  for (const m of text.matchAll(IGNORE_COMMENT)) {
    const rest = m[4]!;
    const [ruleList, ...reason] = rest.split(/:|\s--/);
    const above = text.slice(0, m.index).replace(/\n$/, '').split('\n').at(-1) ?? '';
    const commentAbove = /^\s*(--|\/\/|\*)\s*\S/.test(above) && !/squawk-ignore|up migration/i.test(above);
    if (!ruleList!.trim() || !(reason.join('').trim() || commentAbove)) {
      out.push({
        migration: file.name,
        file: rel(file.path),
        line: where === 'source' ? text.slice(0, m.index).split('\n').length : 0,
        rule: 'ignore-without-reason',
        message: `squawk-ignore${m[3] ?? ''} needs rule names and a reason: "-- squawk-ignore${m[3] ?? ''} <rule>: <why this is safe>"${where === 'rendered' ? ' (in the SQL this migration renders)' : ''}.`,
      });
    }
  }
  return out;
}

/** How many lines of `source` precede the rendered SQL (whose first line is the `-- Up Migration` marker). */
function lineOffset(source: string, sql: string): number {
  const first = sql.split('\n')[0] ?? '';
  const index = first ? source.indexOf(first) : -1;
  return index < 0 ? 0 : source.slice(0, index).split('\n').length - 1;
}

interface SquawkFinding { file: string; line: number; rule_name: string; message: string; help?: string | null }

async function squawk(bin: string, args: string[]): Promise<SquawkFinding[]> {
  try {
    const { stdout } = await promisify(execFile)(bin, args, { maxBuffer: 64 * 1024 * 1024 });
    return stdout.trim() ? (JSON.parse(stdout) as SquawkFinding[]) : [];
  } catch (error) {
    const e = error as { code?: number | string; stdout?: string; stderr?: string; message: string };
    if (e.code === 1 && e.stdout?.trim().startsWith('[')) return JSON.parse(e.stdout) as SquawkFinding[];
    throw new MigratorError(`squawk failed (${bin}): ${(e.stderr || e.message).trim()}`);
  }
}

function squawkBinary(): string {
  const pkg = createRequire(import.meta.url).resolve('squawk-cli/package.json');
  return join(dirname(pkg), 'js', 'bin', 'squawk');
}
