/**
 * The zod schemas of the data files, built from the seed model: one strict object per section (unknown
 * fields are errors), its fields typed by the model, child lists as arrays (with the shorthand for bare
 * strings), catalog.yaml as one list per catalog section, tenants/<slug>.yaml as the tenant root. The
 * JSON Schemas for editors (seeds/schema/) come from the same schemas.
 */
import * as z from 'zod';
import type { Field, Section, SeedModel } from './model.ts';
import type { FieldKinds } from './yaml-file.ts';

// Same alphabet as the tenants_slug_format check, and short enough for key prefixes and secret names.
const SLUG = /^[a-z][a-z0-9-]{0,38}[a-z0-9]$/;
/** Secrets Manager names: its own alphabet; `{stage}` is replaced by the stage name. */
const SECRET_NAME = /^[A-Za-z0-9/_+=.@{}-]{1,512}$/;

export const Slug = z.string().regex(SLUG, 'must be lowercase letters, digits and "-", 2-40 characters, starting with a letter and not ending with "-"');
export const SecretName = z
  .string()
  .regex(SECRET_NAME, 'must be a Secrets Manager secret name (letters, digits, /_+=.@-), optionally with {stage}');

/** A leaf of a jsonb column with secretLeaves: the secret's name and the field of its JSON. */
export const SecretLeaf = z.strictObject({ secret: SecretName, jsonField: z.string().min(1).optional() });

/** Whether a value is a secret leaf `{secret, jsonField?}`. */
export function isSecretLeaf(v: unknown): v is { secret: string; jsonField?: string } {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  return keys.includes('secret') && keys.every((k) => k === 'secret' || k === 'jsonField');
}

const JsonValue: z.ZodType<unknown> = z.lazy(() => z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(JsonValue), z.record(z.string(), JsonValue)]));

function typeOf(f: Field): NonNullable<Field['type']> {
  if (f.type) return f.type;
  const d = f.default;
  if (d === undefined || typeof d === 'string') return f.enum && typeof f.enum[0] === 'number' ? 'number' : 'string';
  if (typeof d === 'number') return Number.isInteger(d) ? 'integer' : 'number';
  if (typeof d === 'boolean') return 'boolean';
  if (Array.isArray(d)) return 'array';
  if (d && typeof d === 'object') return 'object';
  return 'json';
}

function fieldSchema(f: Field, key: boolean): z.ZodType {
  let s: z.ZodType;
  if (f.generated) s = z.boolean().describe('true: generate a key once (plaintext only in Secrets Manager); false: none.');
  else if (f.providerSecret) s = SecretName.describe('Secrets Manager secret NAME; "{stage}" is replaced by the stage. Never the key itself.');
  else if (f.ref) s = z.string().min(1).describe(`Natural key of a "${f.ref}" entry of catalog.yaml.`);
  else if (f.enum) {
    const values = f.enum;
    s = z.union(values.map((v) => z.literal(v)) as [z.ZodLiteral<string | number>, ...z.ZodLiteral<string | number>[]]);
    if (values.every((v) => typeof v === 'string')) s = z.enum(values as [string, ...string[]]);
  } else {
    const t = typeOf(f);
    if (t === 'string') {
      let x = f.format === 'email' ? z.email() : f.format === 'url' ? z.url() : z.string();
      if (f.min !== undefined) x = x.min(f.min);
      if (f.max !== undefined) x = x.max(f.max);
      if (f.pattern) x = x.regex(new RegExp(f.pattern), `must match ${f.pattern}`);
      s = f.lowercase ? x.transform((v) => v.toLowerCase()) : x;
    } else if (t === 'integer' || t === 'number') {
      let x = t === 'integer' ? z.number().int() : z.number();
      if (f.min !== undefined) x = x.min(f.min);
      if (f.max !== undefined) x = x.max(f.max);
      s = x;
    } else if (t === 'boolean') s = z.boolean();
    else if (t === 'object') s = z.record(z.string(), f.json?.secretLeaves ? JsonValue.superRefine(leafCheck) : z.unknown());
    else if (t === 'array') s = z.array(z.unknown());
    else s = f.json?.secretLeaves ? JsonValue.superRefine(leafCheck) : z.unknown();
  }
  if (f.description) s = s.describe(f.description);
  // A key field is required unless the model gives it a default (llm's purpose: 'default').
  if (f.default !== undefined) return s.default(f.default as never);
  if (key) return s;
  if (f.generated) return s.default(false as never);
  return f.required ? s : s.optional();
}

/** A leaf that looks like a secret leaf must be a valid one (a misspelt `secrte:` is not silently stored). */
function leafCheck(v: unknown, ctx: z.RefinementCtx): void {
  const walk = (x: unknown, path: (string | number)[]) => {
    if (Array.isArray(x)) x.forEach((y, i) => walk(y, [...path, i]));
    else if (x && typeof x === 'object') {
      if ('secret' in x) {
        const r = SecretLeaf.safeParse(x);
        if (!r.success) for (const i of r.error.issues) ctx.addIssue({ code: 'custom', path: [...path, ...(i.path as (string | number)[])], message: i.code === 'unrecognized_keys' ? `a secret leaf has only "secret" and "jsonField" (${i.message})` : i.message });
        return;
      }
      for (const [k, y] of Object.entries(x)) walk(y, [...path, k]);
    }
  };
  walk(v, []);
}

/** The strict object schema of one entry of a section (children included). */
export function entrySchema(s: Section): z.ZodType {
  const shape: Record<string, z.ZodType> = {};
  for (const f of s.fields) shape[f.name] = fieldSchema(f, s.key.includes(f.name));
  for (const c of s.children) shape[c.path.at(-1)!] = z.array(entrySchema(c)).default([]);
  const obj = z.strictObject(shape);
  const short = s.shorthand;
  if (!short) return obj;
  return z.preprocess((v) => (typeof v === 'string' ? { [short]: v } : v), obj);
}

export interface DataSchemas {
  catalog: z.ZodType;
  tenant: z.ZodType;
  /** Field kinds for the secret-like checks (which fields hold names and URLs). */
  kinds: FieldKinds;
}

const cache = new WeakMap<SeedModel, DataSchemas>();

/** The data-file schemas of a model (built once per model). */
export function dataSchemas(model: SeedModel): DataSchemas {
  const hit = cache.get(model);
  if (hit) return hit;
  const catalogShape: Record<string, z.ZodType> = { $schema: z.string().optional() };
  for (const s of model.catalog) catalogShape[s.path[0]!] = z.array(entrySchema(s)).default([]);
  const t = model.tenant;
  const tenantShape: Record<string, z.ZodType> = {
    $schema: z.string().optional(),
    kind: z.enum(['real', 'demo']).default('real').describe('Stages select tenants by kind (prod: real only). Never stored.'),
  };
  for (const f of t.fields) tenantShape[f.name] = f.name === t.key[0] ? Slug.describe('Natural key; also the file name.') : fieldSchema(f, false);
  for (const c of t.children) tenantShape[c.path.at(-1)!] = z.array(entrySchema(c)).default([]);
  if (model.inboundKeys) {
    tenantShape[model.inboundKeys.field] = z
      .boolean()
      .default(true)
      .describe('Generate an inbound API key (hash in the database, plaintext in Secrets Manager) when the tenant has none.');
  }
  const names = new Set(['kmsKeyId', 'secretPrefix', 'secret']);
  const urls = new Set<string>();
  const walk = (s: Section) => {
    for (const f of s.fields) {
      if (f.providerSecret) names.add(f.name);
      if (f.format === 'url') urls.add(f.name);
    }
    s.children.forEach(walk);
  };
  model.catalog.forEach(walk);
  walk(t);
  const out: DataSchemas = {
    catalog: z.strictObject(catalogShape).describe('seeds/catalog.yaml: one list per catalog section of seed.config.yaml.'),
    tenant: z.strictObject(tenantShape).describe('seeds/tenants/<slug>.yaml: one tenant and its lists (seed.config.yaml tenant).'),
    kinds: { names, urls },
  };
  cache.set(model, out);
  return out;
}
