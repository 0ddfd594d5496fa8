/**
 * Reads and validates the seeds folder: the seed model (seed.config.yaml, or the built-in one), then
 * every data file through the strict reader -> strict YAML -> secret-like checks -> the zod schemas
 * BUILT FROM THE MODEL (strict) -> cross-reference checks (natural keys unique, refs known, slug =
 * file name) -> the seed set of one stage. Every problem of every file is collected and reported
 * together, each as `file:line path: reason`, before anything touches a database. This is the only
 * way seed files are read (CLI, deploy and operations functions alike).
 */
import { lstatSync, readdirSync, realpathSync } from 'node:fs';
import { join, basename, relative, isAbsolute } from 'node:path';
import * as z from 'zod';
import { StagesSchema, type StageConfig } from './schema.ts';
import { SeedValidationError, type SeedIssue } from './errors.ts';
import { pushTo } from './pool.ts';
import { loadModel } from './model-load.ts';
import { dataSchemas, isSecretLeaf } from './data-schema.ts';
import type { Field, Section, SeedModel } from './model.ts';
import { readSeedFile, withoutSecrets, MAX_SEED_FILE_BYTES, parseSeedText, type Parsed } from './yaml-file.ts';

export { MAX_SEED_FILE_BYTES, parseSeedText };

/** One entry of a section as the file gives it (defaults applied; child lists under their field names). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Entry = Record<string, any>;

/** Where an entry comes from, for messages of later checks (a failed cast on the server). */
export interface Origin {
  file: string;
  line?: number;
  path: string;
  /** The path as keys and indexes. */
  at: (string | number)[];
}

/** A tenant as the seeder applies it: its fields and lists (as in the file), plus where it came from. */
export interface TenantSeed extends Entry {
  /** Seed file relative to the seeds folder, for error messages. */
  file: string;
  /** The tenant's natural key (the model's tenant key field; equals the file name). */
  slug: string;
  kind: 'real' | 'demo';
}
export interface StageSeed extends StageConfig {
  name: string;
}
/** Everything one seed run applies: the model, the catalog and the stage's (selected) tenants. */
export interface SeedSet {
  stage: StageSeed;
  model: SeedModel;
  /** Catalog section name -> entries. */
  catalog: Record<string, Entry[]>;
  tenants: TenantSeed[];
  /** file:line of an entry (catalog entries, tenants and their list items). */
  origin: WeakMap<object, Origin>;
  /** The line of a path in a seed file (re-reads the file: for messages of later checks only). */
  lineAt?: (file: string, path: readonly (string | number)[]) => number | undefined;
  /** LoadOptions.displayDir, for messages of later checks. */
  displayDir?: string;
}

/** The same error with its files named inside `displayDir` (the built-in model keeps its name). */
export function inFolder(e: SeedValidationError, displayDir: string): SeedValidationError {
  const base = displayDir.replace(/\/+$/, '');
  // The built-in model keeps its name; seed.config.yaml is already named inside the folder (loadModel's display).
  return new SeedValidationError(e.issues.map((i) => (i.file.endsWith('(built-in)') || i.file.startsWith(`${base}/`) ? i : { ...i, file: `${base}/${i.file}` })));
}

export interface LoadOptions {
  /** The seeds folder (holding seed.config.yaml, catalog.yaml, stages.yaml, tenants/). */
  dir: string;
  /** Stage whose tenants to select. */
  stage: string;
  /** Restrict to these tenant slugs (each must belong to the stage). Default: all of the stage's tenants. */
  tenants?: readonly string[];
  /** One-line notices (e.g. the built-in model is used). */
  log?: (line: string) => void;
  /**
   * How messages name the folder: the path the user gave (`--seeds-dir ../x/seeds` ->
   * `../x/seeds/tenants/a.yaml:3`). Default: file names relative to the folder.
   */
  displayDir?: string;
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

const singular = (name: string) => (name.endsWith('s') ? name.slice(0, -1) : name);
const keyText = (s: Section, e: Entry) => s.key.map((k) => String(e[k])).join('/');

/**
 * Checks one list of entries of a section (and their children): natural keys unique within the list,
 * refs known to the catalog. Records every entry's origin.
 */
function checkList(
  ctx: { file: string; who: string; refs: Map<string, Set<string>>; issues: SeedIssue[]; origin: WeakMap<object, Origin>; lineOf?: Parsed<unknown>['lineOf']; stage: string },
  s: Section,
  list: Entry[],
  path: (string | number)[],
) {
  const { file, issues } = ctx;
  const seen = new Map<string, number[]>();
  list.forEach((e, i) => {
    const p = [...path, i];
    ctx.origin.set(e, { file, line: ctx.lineOf?.(p), path: pathOf(p), at: p });
    pushTo(seen, keyText(s, e), i);
    for (const f of s.fields) {
      const v = e[f.name];
      checkRef(ctx, f, v, [...p, f.name]);
      if (f.providerSecret && typeof v === 'string') e[f.name] = v.replaceAll('{stage}', ctx.stage);
      if (f.json?.secretLeaves && v && typeof v === 'object') e[f.name] = replaceStageInLeaves(v, ctx.stage);
    }
    for (const c of s.children) checkList(ctx, c, e[c.path.at(-1)!] ?? [], [...p, c.path.at(-1)!]);
  });
  for (const [key, idx] of seen) {
    if (idx.length < 2) continue;
    const fp = [...path, idx[1]!, ...(s.key.length === 1 ? [s.key[0]!] : [])];
    const what = `${singular(String(s.path.at(-1)))} ${s.key.join('/')}`;
    issues.push({ file, path: pathOf(fp), line: ctx.lineOf?.(fp), message: `${ctx.who}duplicate ${what} "${key}"` });
  }
}

/** A ref field's value must be a natural key of its catalog section (the tenant root's fields and every entry's). */
function checkRef(ctx: { file: string; who: string; refs: Map<string, Set<string>>; issues: SeedIssue[]; lineOf?: Parsed<unknown>['lineOf'] }, f: Field, v: unknown, fp: (string | number)[]): void {
  if (f.ref && typeof v === 'string' && !ctx.refs.get(f.ref)?.has(v)) {
    ctx.issues.push({ file: ctx.file, path: pathOf(fp), line: ctx.lineOf?.(fp), message: `${ctx.who}unknown ${singular(f.ref)} "${v}" (not in catalog ${f.ref})` });
  }
}

function replaceStageInLeaves(v: unknown, stage: string): unknown {
  if (Array.isArray(v)) return v.map((x) => replaceStageInLeaves(x, stage));
  if (isSecretLeaf(v)) return { ...v, secret: v.secret.replaceAll('{stage}', stage) };
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, replaceStageInLeaves(x, stage)]));
  return v;
}

function pathOf(p: (string | number)[]): string {
  let out = '';
  for (const x of p) out += typeof x === 'number' ? `[${x}]` : out ? `.${x}` : x;
  return out;
}

/** Loads, validates and cross-checks the whole seeds folder, then selects one stage's tenants. */
export function loadSeeds(options: LoadOptions): SeedSet {
  if (!options.displayDir) return load(options);
  try {
    return { ...load(options), displayDir: options.displayDir };
  } catch (e) {
    throw e instanceof SeedValidationError ? inFolder(e, options.displayDir) : e;
  }
}

function load(options: LoadOptions): SeedSet {
  const { dir } = options;
  const model = loadModel(dir, { ...(options.log ? { log: options.log } : {}), ...(options.displayDir ? { display: `${options.displayDir.replace(/\/+$/, '')}/seed.config.yaml` } : {}) });
  const schemas = dataSchemas(model);
  const issues: SeedIssue[] = [];
  const found = new Set<string>();
  const origin = new WeakMap<object, Origin>();
  const catalogFile = readSeedFile(dir, 'catalog.yaml', schemas.catalog, found, schemas.kinds);
  const stagesFile = readSeedFile(dir, 'stages.yaml', StagesSchema, found);
  issues.push(...catalogFile.issues, ...stagesFile.issues);
  const catalog = catalogFile.value as Record<string, Entry[]> | undefined;
  // Natural keys of the catalog's sections, for refs.
  const refs = new Map<string, Set<string>>();
  if (catalog) {
    delete (catalog as Record<string, unknown>).$schema;
    for (const s of model.catalog) refs.set(s.path[0]!, new Set((catalog[s.path[0]!] ?? []).map((e) => String(e[s.key[0]!]))));
    const ctx = { file: 'catalog.yaml', who: '', refs, issues, origin, lineOf: catalogFile.lineOf, stage: options.stage };
    for (const s of model.catalog) checkList(ctx, s, catalog[s.path[0]!] ?? [], [s.path[0]!]);
  }

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
  const keyField = model.tenant.key[0]!;
  for (const file of files) {
    const parsed = readSeedFile(dir, file, schemas.tenant, found, schemas.kinds);
    issues.push(...parsed.issues);
    if (!parsed.value || !catalog) continue;
    const { $schema: _s, ...t } = parsed.value as Entry;
    const slug = String(t[keyField]);
    const expected = basename(file).replace(/\.ya?ml$/, '');
    if (slug !== expected) issues.push({ file, path: keyField, line: parsed.lineOf?.([keyField]), message: `${keyField} "${slug}" must match the file name "${expected}"` });
    const tenant = { ...t, file, slug } as TenantSeed;
    origin.set(tenant, { file, line: 1, path: '', at: [] });
    const ctx = { file, who: `tenant "${slug}": `, refs, issues, origin, lineOf: parsed.lineOf, stage: options.stage };
    for (const f of model.tenant.fields) {
      checkRef(ctx, f, tenant[f.name], [f.name]);
      if (f.providerSecret && typeof tenant[f.name] === 'string') tenant[f.name] = tenant[f.name].replaceAll('{stage}', options.stage);
      if (f.json?.secretLeaves && tenant[f.name]) tenant[f.name] = replaceStageInLeaves(tenant[f.name], options.stage);
    }
    for (const c of model.tenant.children) checkList(ctx, c, tenant[c.path.at(-1)!] ?? [], [c.path.at(-1)!]);
    const other = slugFiles.get(slug);
    if (other) issues.push({ file, path: keyField, message: `duplicate tenant ${keyField} "${slug}" (also in ${other})` });
    else slugFiles.set(slug, file);
    tenants.push(tenant);
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
  const lineAt = (file: string, path: readonly (string | number)[]) => {
    const parsed = readSeedFile(dir, file, z.unknown());
    return parsed.lineOf?.(path);
  };
  return { stage, model, catalog, tenants: selected, origin, lineAt };
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
