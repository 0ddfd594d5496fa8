/** Small migration folders written into temp dirs, in node-pg-migrate's formats. */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';

/** The project's own migration_runs migration, so tests that record runs use the real table, not a copy that drifts. */
export const RUNS = readFileSync(join(import.meta.dirname, '../../migrations/0002_migration_runs.sql'), 'utf8');

export interface Fixture {
  dir: string;
  write(file: string, content: string): string;
  remove(file: string): void;
  cleanup(): void;
}

/** A temp migrations folder holding `files` (name -> content). */
export function fixture(files: Record<string, string> = {}): Fixture {
  const root = mkdtempSync(join(tmpdir(), 'migrator-fx-'));
  const dir = join(root, 'migrations');
  mkdirSync(dir);
  // Like the project: an ESM package, so .ts/.js migrations load as ES modules in a spawned CLI too.
  writeFileSync(join(root, 'package.json'), '{"type": "module"}\n');
  const f: Fixture = {
    dir,
    write(file, content) {
      const path = join(dir, file);
      mkdirSync(join(path, '..'), { recursive: true });
      writeFileSync(path, content);
      return path;
    },
    remove(file) {
      rmSync(join(dir, file));
    },
    cleanup() {
      rmSync(root, { recursive: true, force: true });
    },
  };
  for (const [name, content] of Object.entries(files)) f.write(name, content);
  return f;
}

/** Three migrations: SQL, TypeScript (node-pg-migrate builder), SQL with a down section. */
export const BASIC: Record<string, string> = {
  '0001_widgets.sql': `-- Up Migration
CREATE TABLE widgets (id serial PRIMARY KEY, name text NOT NULL);
INSERT INTO widgets (name) VALUES ('first');

-- Down Migration
DROP TABLE widgets;
`,
  '0002_gadgets.ts': `import type { MigrationBuilder } from 'node-pg-migrate';
export async function up(pgm: MigrationBuilder): Promise<void> {
  pgm.createTable('gadgets', { id: 'id', widget_id: { type: 'integer', references: 'widgets' }, label: { type: 'text' } });
}
export async function down(pgm: MigrationBuilder): Promise<void> {
  pgm.dropTable('gadgets');
}
`,
  '0003_widget_color.sql': `-- Up Migration
ALTER TABLE widgets ADD COLUMN color text;

-- Down Migration
ALTER TABLE widgets DROP COLUMN color;
`,
};

/** `fixture(files)`, removed when the current test finishes (call it inside a test). */
export function testFixture(files: Record<string, string> = {}): Fixture {
  const f = fixture(files);
  onTestFinished(() => f.cleanup());
  return f;
}
