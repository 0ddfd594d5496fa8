/**
 * Reads and validates the seeds folder: strict file read -> strict YAML -> secrets-where-names-belong
 * check -> zod (strict) -> cross-reference checks -> the seed set of one stage. Every problem of every
 * file is collected and reported together, each with file, line and path, before anything touches a
 * database. This is the only way seed files are read (CLI, deploy and operations functions alike).
 */
import { lstatSync, readdirSync, realpathSync } from 'node:fs';
import { join, basename, relative, isAbsolute } from 'node:path';
import { LineCounter, parseDocument, isNode, isScalar, type Document } from 'yaml';
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
import { pushTo } from './pool.ts';
import { InputFileError, readInputFile } from '../input-file.ts';
import { secretLikeKind, type FieldKind } from '../secret-like.ts';

/**
 * Size limit of one seed file. A real tenant file is a few kB; this leaves room for large catalogs
 * while a runaway file (a `settings` blob, a link to a device) is refused before it is parsed.
 */
export const MAX_SEED_FILE_BYTES = 1024 * 1024;

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

/** Fields that hold a secret's or key's NAME (a value that looks like a key there is refused). */
const NAME_FIELDS = new Set(['apiKeySecret', 'kmsKeyId', 'secretPrefix']);
/** Fields that hold a URL (credentials in them are refused). */
const URL_FIELDS = new Set(['endpoint']);

/**
 * Every string (and key) of a parsed file that looks like a secret where none belongs. The issue says
 * what the value looks like, never the value; the values go to `found` so no other message quotes them.
 */
function secretIssues(file: string, value: unknown, doc: Document, lc: LineCounter, found: Set<string>): SeedIssue[] {
  const issues: SeedIssue[] = [];
  const walk = (v: unknown, path: PropertyKey[]) => {
    if (typeof v === 'string') {
      const last = path.at(-1);
      const field: FieldKind = typeof last === 'string' && NAME_FIELDS.has(last) ? 'name' : typeof last === 'string' && URL_FIELDS.has(last) ? 'url' : 'text';
      const kind = secretLikeKind(v, field);
      if (!kind) return;
      found.add(v);
      const advice =
        field === 'name'
          ? `${String(last)} must be a NAME (of a Secrets Manager secret or KMS key), never the secret itself; store the value in Secrets Manager and write its name here`
          : field === 'url'
            ? `${String(last)} must not carry credentials; keep them in Secrets Manager`
            : 'seed files never hold secrets; keep it in Secrets Manager';
      issues.push({ file, path: pathText(path), line: lineOf(doc, lc, path), message: `the value looks like ${kind}: ${advice} (the value is not shown)` });
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, [...path, i]));
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        const kind = secretLikeKind(k, 'text');
        if (kind) {
          found.add(k);
          issues.push({ file, path: pathText(path), line: lineOf(doc, lc, path), message: `a key looks like ${kind}: seed files never hold secrets (the value is not shown)` });
        } else walk(x, [...path, k]);
      }
    }
  };
  walk(value, []);
  return issues;
}

/** Keys are unique by their JS form too (`1:` and `"1":` would silently overwrite each other). */
const sameKey = (a: unknown, b: unknown) => a === b || (isScalar(a) && isScalar(b) && String(a.value) === String(b.value));

/**
 * Parses one YAML text strictly and validates it with a zod schema. Syntax errors, duplicate keys,
 * several documents, unknown tags (`!!js/function`) and aliases that do not resolve are issues with
 * their line; yaml's warnings count as errors (the recovered value is never used). Exported for tests.
 */
export function parseSeedText<S extends z.ZodType>(file: string, text: string, schema: S, found: Set<string> = new Set()): Parsed<z.output<S>> {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: sameKey });
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) {
    return {
      issues: problems.map((e) => ({
        file,
        path: '',
        line: e.linePos?.[0]?.line ?? (e.pos?.[0] !== undefined ? lc.linePos(e.pos[0]).line : undefined),
        message: `${e.code === 'TAG_RESOLVE_FAILED' ? 'unsupported YAML tag' : 'malformed YAML'}: ${e.message.split('\n')[0]}`,
      })),
    };
  }
  let value: unknown;
  try {
    value = doc.toJS() ?? undefined;
  } catch (e) {
    // An alias to a missing anchor, or too many aliases (a "billion laughs" bomb).
    return { issues: [{ file, path: '', message: `malformed YAML: ${(e as Error).message.split('\n')[0]}` }] };
  }
  const secrets = secretIssues(file, value, doc, lc, found);
  // A file holding a secret is not validated further: no other message may quote one of its values.
  if (secrets.length > 0) return { issues: secrets };
  const result = schema.safeParse(value);
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

/** Reads one seed file through the strict input reader (regular file inside the folder, size, UTF-8). */
function readSeedFile<S extends z.ZodType>(dir: string, file: string, schema: S, found?: Set<string>): Parsed<z.output<S>> {
  let text: string;
  try {
    text = readInputFile(dir, file, { maxBytes: MAX_SEED_FILE_BYTES, display: file });
  } catch (e) {
    if (!(e instanceof InputFileError)) throw e;
    // The UTF-8 check names the line as `file:line`.
    const line = e.file.startsWith(`${file}:`) ? Number(e.file.slice(file.length + 1)) : undefined;
    return { issues: [{ file, path: '', ...(line ? { line } : {}), message: e.reason }] };
  }
  return parseSeedText(file, text, schema, found);
}

/**
 * The tenants folder must be a real folder inside the seeds folder (the reader checks each file in it).
 * Returns whether there is one to list, or the issue. A missing folder just means no tenants.
 */
function tenantsFolder(dir: string, tenantDir: string): { list: boolean; issue?: SeedIssue } {
  const issue = (message: string) => ({ list: false, issue: { file: 'tenants/', path: '', message } });
  let st;
  try {
    st = lstatSync(tenantDir);
  } catch {
    return { list: false };
  }
  if (st.isSymbolicLink()) {
    let target: string;
    try {
      target = realpathSync(tenantDir);
    } catch {
      return issue('is a symbolic link whose target does not exist');
    }
    const rel = relative(realpathSync(dir), target);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return issue('is a symbolic link to a folder outside the seeds folder; refusing to read it');
    st = lstatSync(target);
  }
  return st.isDirectory() ? { list: true } : issue('is not a folder');
}

/** Masks values recognised as secrets wherever another message might quote them. */
function withoutSecrets(issues: SeedIssue[], found: ReadonlySet<string>): SeedIssue[] {
  if (found.size === 0) return issues;
  return issues.map((i) => {
    let message = i.message;
    for (const v of found) message = message.replaceAll(v, '***');
    return { ...i, message };
  });
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
  const found = new Set<string>();
  const catalogFile = readSeedFile(dir, 'catalog.yaml', CatalogSchema, found);
  const stagesFile = readSeedFile(dir, 'stages.yaml', StagesSchema, found);
  issues.push(...catalogFile.issues, ...stagesFile.issues);
  const catalog = catalogFile.value;
  if (catalog) checkCatalog(catalog, issues);

  const tenantDir = join(dir, 'tenants');
  const folder = tenantsFolder(dir, tenantDir);
  if (folder.issue) issues.push(folder.issue);
  const entries = folder.list ? readdirSync(tenantDir).sort() : [];
  const files = entries.filter((f) => /\.ya?ml$/.test(f)).map((f) => `tenants/${f}`);
  // A file that looks like a tenant file but would be skipped is an error, not a silently missing tenant.
  for (const f of entries.filter((e) => /\.ya?ml$/i.test(e) && !/\.ya?ml$/.test(e))) {
    issues.push({ file: `tenants/${f}`, path: '', message: 'tenant files end in lowercase .yaml or .yml; rename it (it would be skipped)' });
  }
  const tenants: TenantSeed[] = [];
  const slugFiles = new Map<string, string>();
  for (const file of files) {
    const parsed = readSeedFile(dir, file, TenantSchema, found);
    issues.push(...parsed.issues);
    if (!parsed.value || !catalog) continue;
    const t = resolveTenant(file, parsed.value, catalog, options.stage, issues);
    const other = slugFiles.get(t.slug);
    if (other) issues.push({ file, path: 'slug', message: `duplicate tenant slug "${t.slug}" (also in ${other})` });
    else slugFiles.set(t.slug, file);
    tenants.push(t);
  }

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
  if (issues.length > 0 || !catalog || !stage) throw new SeedValidationError(withoutSecrets(issues, found));

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
  const found = new Set<string>();
  const parsed = readSeedFile(dir, 'stages.yaml', StagesSchema, found);
  if (!parsed.value) throw new SeedValidationError(withoutSecrets(parsed.issues, found));
  const s = parsed.value.stages[stage];
  if (!s) {
    throw new SeedValidationError([
      { file: 'stages.yaml', path: 'stages', message: `unknown stage "${stage}" (known: ${Object.keys(parsed.value.stages).join(', ')})` },
    ]);
  }
  return { name: stage, ...s };
}
