/**
 * Reads and validates the seeds folder: YAML -> zod (strict) -> cross-reference checks -> the seed set
 * of one stage. Every problem of every file is collected and reported together, each with file, line
 * and path, before anything touches a database.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join, basename } from 'node:path';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import type * as z from 'zod';
import {
  CatalogSchema,
  StagesSchema,
  TenantSchema,
  type Catalog,
  type LlmSettingSeed,
  type StageConfig,
  type TenantFile,
} from './schema.ts';
import { SeedValidationError, type SeedIssue } from './errors.ts';
import { parseYamlFiles } from './parallel-yaml.ts';
import { pushTo } from './pool.ts';

export interface ResolvedTenantAgent {
  name: string;
  enabled: boolean;
}
export interface ResolvedLlmSetting extends LlmSettingSeed {
  /** Secret name with `{stage}` replaced. */
  apiKeySecret?: string;
}
/** A tenant as the seeder applies it. */
export interface TenantSeed extends Omit<TenantFile, 'agents' | 'llm' | '$schema'> {
  /** Seed file relative to the seeds folder, for error messages. */
  file: string;
  agents: ResolvedTenantAgent[];
  llm: ResolvedLlmSetting[];
}
export interface StageSeed extends StageConfig {
  name: string;
}
/** Everything one seed run applies: the catalog and the stage's (selected) tenants. */
export interface SeedSet {
  stage: StageSeed;
  catalog: Catalog;
  tenants: TenantSeed[];
}

export interface LoadOptions {
  /** The seeds folder (holding catalog.yaml, stages.yaml, tenants/). */
  dir: string;
  /** Stage whose tenants to select. */
  stage: string;
  /** Restrict to these tenant slugs (each must belong to the stage). Default: all of the stage's tenants. */
  tenants?: readonly string[];
}

interface Parsed<T> {
  value?: T;
  issues: SeedIssue[];
}

function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}

function lineOf(doc: Document, lc: LineCounter, path: readonly PropertyKey[]): number | undefined {
  // The deepest node on the path that exists (a missing field has no node; its parent has).
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n) as unknown[], true);
    if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
  }
  return undefined;
}

/** Parses one YAML text and validates it with a zod schema. Exported for tests and tools. */
export function parseSeedText<S extends z.ZodType>(file: string, text: string, schema: S): Parsed<z.output<S>> {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      issues: doc.errors.map((e) => ({
        file,
        path: '',
        line: e.linePos?.[0]?.line ?? (e.pos?.[0] !== undefined ? lc.linePos(e.pos[0]).line : undefined),
        message: `malformed YAML: ${e.message.split('\n')[0]}`,
      })),
    };
  }
  const result = schema.safeParse(doc.toJS() ?? undefined);
  if (result.success) return { value: result.data, issues: [] };
  const issues: SeedIssue[] = [];
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const p = [...issue.path, key];
        issues.push({ file, path: pathText(p), line: lineOf(doc, lc, p), message: `unknown field "${key}"` });
      }
    } else {
      issues.push({ file, path: pathText(issue.path), line: lineOf(doc, lc, issue.path), message: issue.message });
    }
  }
  return { issues };
}

function readSeedFile<S extends z.ZodType>(dir: string, file: string, schema: S): Parsed<z.output<S>> {
  const full = join(dir, file);
  if (!existsSync(full)) return { issues: [{ file, path: '', message: 'file not found' }] };
  return parseSeedText(file, readFileSync(full, 'utf8'), schema);
}

function duplicates<T>(items: readonly T[], key: (t: T) => string): Map<string, number[]> {
  const seen = new Map<string, number[]>();
  items.forEach((t, i) => pushTo(seen, key(t), i));
  return new Map([...seen].filter(([, idx]) => idx.length > 1));
}

function checkCatalog(catalog: Catalog, issues: SeedIssue[]): void {
  const file = 'catalog.yaml';
  for (const [section, list] of [
    ['models', catalog.models],
    ['tools', catalog.tools],
    ['agents', catalog.agents],
  ] as const) {
    for (const [name, idx] of duplicates(list as readonly { name: string }[], (x) => x.name)) {
      issues.push({ file, path: `${section}[${idx[1]}].name`, message: `duplicate ${section.slice(0, -1)} "${name}"` });
    }
  }
  const tools = new Set(catalog.tools.map((t) => t.name));
  catalog.agents.forEach((a, i) =>
    a.tools.forEach((t, j) => {
      if (!tools.has(t)) issues.push({ file, path: `agents[${i}].tools[${j}]`, message: `unknown tool "${t}" (not in catalog tools)` });
    }),
  );
}

function resolveTenant(file: string, t: TenantFile, catalog: Catalog, stage: string, issues: SeedIssue[]): TenantSeed {
  const expected = basename(file).replace(/\.ya?ml$/, '');
  if (t.slug !== expected) issues.push({ file, path: 'slug', message: `slug "${t.slug}" must match the file name "${expected}"` });
  const agents = new Set(catalog.agents.map((a) => a.name));
  const models = new Set(catalog.models.map((m) => m.name));
  const resolvedAgents = t.agents.map((a) => (typeof a === 'string' ? { name: a, enabled: true } : { name: a.name, enabled: a.enabled }));
  resolvedAgents.forEach((a, i) => {
    if (!agents.has(a.name)) issues.push({ file, path: `agents[${i}]`, message: `tenant "${t.slug}": unknown agent "${a.name}" (not in catalog.yaml)` });
  });
  for (const [name, idx] of duplicates(resolvedAgents, (a) => a.name)) {
    issues.push({ file, path: `agents[${idx[1]}]`, message: `tenant "${t.slug}": agent "${name}" listed twice` });
  }
  for (const [email, idx] of duplicates(t.users, (u) => u.email)) {
    issues.push({ file, path: `users[${idx[1]}].email`, message: `tenant "${t.slug}": duplicate user email "${email}"` });
  }
  t.llm.forEach((l, i) => {
    if (!models.has(l.model)) issues.push({ file, path: `llm[${i}].model`, message: `tenant "${t.slug}": unknown model "${l.model}" (not in catalog.yaml)` });
  });
  for (const [purpose, idx] of duplicates(t.llm, (l) => l.purpose)) {
    issues.push({ file, path: `llm[${idx[1]}].purpose`, message: `tenant "${t.slug}": duplicate LLM purpose "${purpose}"` });
  }
  const { $schema: _schema, agents: _a, llm, ...rest } = t;
  return {
    ...rest,
    file,
    agents: resolvedAgents,
    llm: llm.map((l) => ({ ...l, apiKeySecret: l.apiKeySecret?.replaceAll('{stage}', stage) })),
  };
}

/** Loads, validates and cross-checks the whole seeds folder, then selects one stage's tenants. */
export function loadSeeds(options: LoadOptions): SeedSet {
  const { dir } = options;
  const issues: SeedIssue[] = [];
  const catalogFile = readSeedFile(dir, 'catalog.yaml', CatalogSchema);
  const stagesFile = readSeedFile(dir, 'stages.yaml', StagesSchema);
  issues.push(...catalogFile.issues, ...stagesFile.issues);
  const catalog = catalogFile.value;
  if (catalog) checkCatalog(catalog, issues);

  const tenantDir = join(dir, 'tenants');
  const files = existsSync(tenantDir)
    ? readdirSync(tenantDir)
        .filter((f) => /\.ya?ml$/.test(f))
        .sort()
        .map((f) => `tenants/${f}`)
    : [];
  const tenants: TenantSeed[] = [];
  const slugFiles = new Map<string, string>();
  // Fast path: plain parse (in parallel for many files); a file that fails either step is parsed
  // again with positions so its issues carry line numbers.
  const quick = parseYamlFiles(files.map((f) => join(dir, f)));
  files.forEach((file, i) => {
    const q = quick[i];
    const fast = q?.ok ? TenantSchema.safeParse(q.value) : undefined;
    const parsed = fast?.success ? { value: fast.data, issues: [] } : readSeedFile(dir, file, TenantSchema);
    issues.push(...parsed.issues);
    if (!parsed.value || !catalog) return;
    const t = resolveTenant(file, parsed.value, catalog, options.stage, issues);
    const other = slugFiles.get(t.slug);
    if (other) issues.push({ file, path: 'slug', message: `duplicate tenant slug "${t.slug}" (also in ${other})` });
    else slugFiles.set(t.slug, file);
    tenants.push(t);
  });

  let stage: StageSeed | undefined;
  const stages = stagesFile.value?.stages;
  if (stages) {
    for (const [name, s] of Object.entries(stages)) {
      (s.only ?? []).forEach((slug, i) => {
        if (!slugFiles.has(slug)) issues.push({ file: 'stages.yaml', path: `stages.${name}.only[${i}]`, message: `unknown tenant "${slug}"` });
      });
      if (s.protected && s.kinds.includes('demo')) {
        issues.push({ file: 'stages.yaml', path: `stages.${name}.kinds`, message: `protected stage "${name}" must not get demo tenants` });
      }
    }
    const chosen = stages[options.stage];
    if (!chosen) {
      issues.push({
        file: 'stages.yaml',
        path: 'stages',
        message: `unknown stage "${options.stage}" (known: ${Object.keys(stages).join(', ') || 'none'})`,
      });
    } else stage = { name: options.stage, ...chosen };
  }
  if (issues.length > 0 || !catalog || !stage) throw new SeedValidationError(issues);

  const st = stage;
  let selected = tenants.filter((t) => st.kinds.includes(t.kind) && (!st.only || st.only.includes(t.slug)));
  if (options.tenants && options.tenants.length > 0) {
    const inStage = new Set(selected.map((t) => t.slug));
    const wanted = [...new Set(options.tenants)];
    const unknown = wanted.filter((s) => !inStage.has(s));
    if (unknown.length > 0) {
      throw new SeedValidationError(
        unknown.map((s) => ({
          file: slugFiles.get(s) ?? 'tenants/',
          path: '',
          message: slugFiles.has(s)
            ? `tenant "${s}" is not part of stage "${st.name}"`
            : `unknown tenant "${s}" (stage "${st.name}" has: ${[...inStage].join(', ')})`,
        })),
      );
    }
    selected = selected.filter((t) => wanted.includes(t.slug));
  }
  return { stage, catalog, tenants: selected };
}

/** Reads only stages.yaml (for commands that need the stage's flags, not the tenants). */
export function loadStage(dir: string, stage: string): StageSeed {
  const parsed = readSeedFile(dir, 'stages.yaml', StagesSchema);
  if (!parsed.value) throw new SeedValidationError(parsed.issues);
  const s = parsed.value.stages[stage];
  if (!s) {
    throw new SeedValidationError([
      { file: 'stages.yaml', path: 'stages', message: `unknown stage "${stage}" (known: ${Object.keys(parsed.value.stages).join(', ')})` },
    ]);
  }
  return { name: stage, ...s };
}
