/**
 * The folder check's parser-free path (`plainlyFine`): SQL it lets through without libpg-query must be
 * SQL the parser would also pass (at least one statement, no transaction control). Every judgement here
 * is checked against libpg-query itself, so a word missing from the list, or a comment the scan gets
 * wrong, fails a test.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModule, parse } from 'libpg-query';
import { beforeAll, describe, expect, it } from 'vitest';
import { plainlyFine } from '../../functions/core/migrate/folder-check.ts';
import { generateMigrations } from '../bench/migrations/generate.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** What the parser says: top-level statement kinds, or null for a syntax error. */
async function kinds(sql: string): Promise<string[] | null> {
  try {
    const r = (await parse(sql)) as { stmts?: { stmt?: Record<string, unknown> }[] };
    return (r.stmts ?? []).map((s) => Object.keys(s.stmt ?? {})[0] ?? '?');
  } catch {
    return null;
  }
}

beforeAll(async () => {
  await loadModule();
});

// Every form of PostgreSQL's TransactionStmt (and the legacy BEGIN/END).
const TX_FORMS = [
  'BEGIN', 'BEGIN WORK', 'BEGIN TRANSACTION ISOLATION LEVEL SERIALIZABLE', 'START TRANSACTION', 'START TRANSACTION READ ONLY',
  'COMMIT', 'COMMIT WORK', 'COMMIT AND CHAIN', 'END', 'END TRANSACTION', 'ABORT', 'ROLLBACK', 'ROLLBACK AND NO CHAIN',
  'SAVEPOINT a', 'RELEASE SAVEPOINT a', 'RELEASE a', 'ROLLBACK TO SAVEPOINT a', 'ROLLBACK TO a',
  "PREPARE TRANSACTION 'x'", "COMMIT PREPARED 'x'", "ROLLBACK PREPARED 'x'",
];
const CONTEXTS = [
  (s: string) => s,
  (s: string) => `${s.toLowerCase()};`,
  (s: string) => `CREATE TABLE t (id int);${s};CREATE TABLE u (id int);`,
  (s: string) => `/* one /* nested */ comment */${s.replace(' ', '\t')}`,
  (s: string) => `SELECT 1;\n-- a comment\n  ${s[0]}${s.slice(1).toLowerCase()}\n;`,
];

describe('plainlyFine', () => {
  it.each(TX_FORMS)('never lets "%s" through, in any context (the parser sees a TransactionStmt in each)', async (form) => {
    for (const context of CONTEXTS) {
      const sql = context(form);
      expect(await kinds(sql), sql).toContain('TransactionStmt');
      expect(plainlyFine(sql), sql).toBe(false);
    }
  });

  it('sends SQL with no statement to the parser (which finds it empty)', async () => {
    for (const sql of ['', '  \n\t', ';;', '-- only a comment\n', '-- no newline at the end', '/* a /* nested */ comment */', '/* unterminated', '\u00a0']) {
      expect(plainlyFine(sql), JSON.stringify(sql)).toBe(false);
    }
    expect(await kinds('-- only a comment\n;')).toEqual([]);
  });

  it('agrees with the parser on every migration of this repository, the test fixtures and the benchmark', async () => {
    const work = mkdtempSync(join(tmpdir(), 'migrator-plainly-'));
    try {
      const sqlFiles = (dir: string): string[] =>
        readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
          d.isDirectory() ? (d.name === 'node_modules' ? [] : sqlFiles(join(dir, d.name))) : d.name.endsWith('.sql') ? [join(dir, d.name)] : [],
        );
      const bench = generateMigrations(work, 30);
      const files = [...sqlFiles(join(ROOT, 'migrations')), ...sqlFiles(join(ROOT, 'test')), ...sqlFiles(bench.dir)];
      let fine = 0;
      for (const file of files) {
        const up = readFileSync(file, 'utf8').split(/^\s*--[\s-]*down\s+migration/im)[0]!;
        if (!plainlyFine(up)) continue;
        fine++;
        const parsed = await kinds(up);
        // Let through: the parser finds statements (or a syntax error PostgreSQL reports itself), none of them transaction control.
        if (parsed !== null) {
          expect(parsed.length, file).toBeGreaterThan(0);
          expect(parsed, file).not.toContain('TransactionStmt');
        }
      }
      expect(fine).toBeGreaterThanOrEqual(30); // the benchmark's DDL goes the parser-free way
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('lets ordinary DDL through without the parser, and words inside names or strings send it to the parser', async () => {
    const ddl = "CREATE TABLE starts (id int, start_date date, ends_at timestamptz);\nCOMMENT ON TABLE starts IS 'beginning';";
    expect(plainlyFine(ddl)).toBe(true);
    expect(await kinds(ddl)).toEqual(['CreateStmt', 'CommentStmt']);
    // Conservative: the word inside a string or a DO body is not transaction control, but the parser decides.
    expect(plainlyFine("COMMENT ON TABLE t IS 'the end';")).toBe(false);
    expect(plainlyFine('DO $$ BEGIN PERFORM 1; END $$;')).toBe(false);
  });
});
