/**
 * Content hash of the migrations and seeds a deploy ships. It goes into the custom resource's properties so
 * CloudFormation sees a change exactly when the content changes, and into the asset manifest so the handler
 * knows which content it carries.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

/**
 * Which files go into the asset and the hash: not dot files or folders (editor state, a local .compiled/),
 * not documentation (a README edit must not trigger a deploy-time run). Mirrors infra/asset/stage.ts.
 */
export function shipped(name: string): boolean {
  return !name.startsWith('.') && !/\.md$/i.test(name);
}

function listFiles(root: string): string[] {
  if (!existsSync(root)) return [];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (!shipped(name)) continue; // same filter as the asset copy (asset/stage.ts)
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(root);
  return out;
}

export interface ContentSummary {
  /** SHA-256 (hex) over every file's relative path and bytes, migrations then seeds. */
  readonly hash: string;
  readonly migrationFiles: string[];
  readonly seedFiles: string[];
}

export function contentHash(migrationsDir: string, seedsDir?: string): ContentSummary {
  const h = createHash('sha256');
  const section = (label: string, root: string | undefined) => {
    const files = root ? listFiles(root) : [];
    h.update(`[${label}]\0`);
    for (const f of files) {
      const rel = relative(root!, f).split(sep).join('/');
      h.update(`${rel}\0`);
      h.update(readFileSync(f));
      h.update('\0');
    }
    return files.map((f) => relative(root!, f).split(sep).join('/'));
  };
  const migrationFiles = section('migrations', migrationsDir);
  const seedFiles = section('seeds', seedsDir);
  return { hash: h.digest('hex'), migrationFiles, seedFiles };
}
