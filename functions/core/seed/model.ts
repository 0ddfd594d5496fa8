/**
 * The seed model (`seed.config.yaml`): which tables the seed files write, their natural keys, how rows
 * hang off a tenant or belong to the global catalog, references between seeded rows, and the special
 * columns (provider secrets, generated inbound keys, jsonb with secret leaves). Defined once with zod
 * (strict objects, so a misspelt key is an error); `schema/seed-config.schema.json` is generated from it.
 *
 * This file holds the shape only. The semantic checks (refs, cycles, key fields) are in model-check.ts,
 * reading a model from a folder in model-load.ts.
 */
import * as z from 'zod';

/** A PostgreSQL identifier as the model names it (unquoted, lowercase: what `CREATE TABLE x` makes). */
const IDENT = /^[a-z_][a-z0-9_$]{0,62}$/;
/** A field name in a data file. */
const FIELD = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** A section name (top-level key of catalog.yaml, a list of a tenant file). */
const SECTION = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export const Ident = z.string().regex(IDENT, 'must be a lowercase SQL identifier (letters, digits, "_")');
/** `schema.table` or `table`. */
export const TableName = z
  .string()
  .regex(/^([a-z_][a-z0-9_$]{0,62}\.)?[a-z_][a-z0-9_$]{0,62}$/, 'must be a lowercase table name, optionally schema-qualified (schema.table)');
const FieldName = z.string().regex(FIELD, 'must be a field name (letters, digits, "_")');
const SectionName = z.string().regex(SECTION, 'must be a section name (letters, digits, "_")');

export const HASHES = ['sha256', 'sha256-base64', 'sha512', 'sha512-base64'] as const;
const Hash = z.enum(HASHES).describe('How the key is hashed: sha256 (hex), sha256-base64, sha512 (hex), sha512-base64.');

/** A template with `{tenant}` (the tenant's slug) and `{row.<field>}`. */
const Template = z.string().min(1).max(200);

export const ProviderSecretSpec = z
  .strictObject({
    jsonField: z.string().min(1).default('apiKey').describe('Field of the secret\'s JSON that holds the key (default apiKey).'),
    ciphertextColumn: Ident.describe('bytea column that receives the KMS ciphertext.'),
    keyIdColumn: Ident.optional().describe('Column that receives the KMS key ARN (a new stage key re-encrypts).'),
    versionColumn: Ident.optional().describe('Column that receives the secret\'s VersionId: re-encrypted only when AWSCURRENT changes.'),
    encryptedAtColumn: Ident.optional().describe('Column that receives the time of the encryption.'),
    context: z
      .record(z.string().regex(/^[A-Za-z][A-Za-z0-9_:-]{0,63}$/), Template)
      .optional()
      .describe("KMS encryption context: key -> template ({tenant.id}, {tenant.slug}, {row.<field>}, {path}). Default {tenant: '{tenant.id}', purpose: '{row.purpose}'} ({path} without a purpose field)."),
  })
  .describe('The file value is a Secrets Manager secret NAME ({stage} replaced); the column gets KMS ciphertext of its key.');

export const GeneratedSpec = z
  .strictObject({
    prefix: Template.optional().describe("Key prefix before 8 random hex digits, e.g. 'ta_{tenant}_'; default 'k_{tenant}_'."),
    prefixColumn: Ident.optional().describe('Column that receives the key prefix (for lookups).'),
    hashColumn: Ident.describe('Column that receives the hash: only a hash reaches the database.'),
    hash: Hash.default('sha256'),
    secretName: z
      .string()
      .regex(/^[A-Za-z0-9_.{}-][A-Za-z0-9/_.{}-]{0,99}$/, 'must be a secret name segment (letters, digits, /_.-, {row.<field>})')
      .describe('The plaintext goes to <secretPrefix>/tenants/[<namespace>/]<slug>/<secretName> only.'),
  })
  .describe('A key generated once (file value true), plaintext only in Secrets Manager, prefix and hash in this row.');

export const JsonSpec = z
  .strictObject({
    secretLeaves: z.boolean().default(false).describe('Leaf objects {secret: <name>, jsonField?: <f>} are stored as KMS ciphertext.'),
  })
  .describe('A jsonb column.');

export const FIELD_TYPES = ['string', 'integer', 'number', 'boolean', 'object', 'array', 'json'] as const;

export const FieldSpecObject = z
  .strictObject({
    column: Ident.optional().describe('The column (required unless the field is generated).'),
    type: z.enum(FIELD_TYPES).optional().describe('Type in the file (default: string, or that of `default`); the column type decides in the database.'),
    required: z.boolean().optional().describe('The field must be given (key fields always are).'),
    default: z.unknown().optional().describe('Value when the field is absent (any JSON).'),
    enum: z.array(z.union([z.string(), z.number()])).min(1).optional().describe('Allowed values.'),
    pattern: z.string().min(1).optional().describe('Regular expression a string value must match.'),
    format: z.enum(['email', 'url']).optional(),
    lowercase: z.boolean().optional().describe('Store the string lowercased.'),
    min: z.number().optional().describe('Smallest number allowed.'),
    max: z.number().optional().describe('Largest number allowed.'),
    ref: SectionName.optional().describe('A catalog section: the value is its natural key, the column gets its id.'),
    providerSecret: ProviderSecretSpec.optional(),
    generated: GeneratedSpec.optional(),
    json: JsonSpec.optional(),
    description: z.string().optional(),
  })
  .describe('How a file field maps to a column.');

export const FieldSpec = z.union([Ident.describe('Shorthand: the column name.'), FieldSpecObject]);

interface SectionShape {
  table: string;
  key: string[];
  id?: string | null;
  parentColumn?: string;
  shorthand?: string;
  fields: Record<string, z.input<typeof FieldSpec>>;
  children?: Record<string, SectionShape>;
  description?: string;
}

const sectionBase = {
  table: TableName.describe('The table the rows go to.'),
  key: z.array(FieldName).min(1).describe('Natural key fields (within the parent, if any), backed by a unique constraint or index.'),
  id: Ident.nullable().default('id').describe('Id column other rows reference (default "id"; null for link tables).'),
  shorthand: FieldName.optional().describe('A bare string item `- x` means `{<shorthand>: x}`.'),
  fields: z.record(FieldName, FieldSpec).describe('File field -> column.'),
  description: z.string().optional(),
};

export const ChildSection: z.ZodType<SectionShape> = z.lazy(() =>
  z
    .strictObject({
      ...sectionBase,
      parentColumn: Ident.describe("Column that receives the parent row's id."),
      children: z.record(SectionName, ChildSection).optional(),
    })
    .describe('Rows nested under a parent row.'),
);

export const CatalogSection = z
  .strictObject({ ...sectionBase, children: z.record(SectionName, ChildSection).optional() })
  .describe('Global rows: a top-level list of catalog.yaml.');

export const InboundKeys = z
  .strictObject({
    field: FieldName.default('inboundApiKey').describe('Boolean field of the tenant file (default true).'),
    table: TableName,
    parentColumn: Ident.describe('Column holding the tenant id.'),
    prefixColumn: Ident,
    prefix: Template.default('tk_{tenant}_').describe("Prefix before 8 hex digits; key = prefix + '_' + 43 chars base64url."),
    hashColumn: Ident,
    hash: Hash.default('sha256'),
    secretNameColumn: Ident,
    statusColumn: Ident.describe("Status: active, pending, retiring, revoked (live = not 'revoked')."),
    secretName: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/).default('api-key'),
    confirmedAtColumn: Ident.optional().describe('Set when a key becomes active (seed, rotate-key --confirm).'),
    expiresAtColumn: Ident.optional().describe('rotate-key --grace-hours: when the retiring key stops being valid.'),
    revokedAtColumn: Ident.optional().describe('Set when rotate-key --confirm revokes a key.'),
    createdAtColumn: Ident.optional().describe('Orders the keys of a tenant (rotate-key).'),
  })
  .describe('A table of inbound API keys with two-step rotation (rotate-key).');

export const TenantSection = z
  .strictObject({
    table: TableName,
    key: z.array(FieldName).length(1).describe('The tenant natural key (one field, equal to the file name).'),
    id: Ident.default('id'),
    fields: z.record(FieldName, FieldSpec),
    children: z.record(SectionName, ChildSection).optional(),
    inboundKeys: InboundKeys.optional(),
    description: z.string().optional(),
  })
  .describe('The root of tenants/<slug>.yaml.');

export const SeedModelSchema = z
  .strictObject({
    $schema: z.string().optional(),
    version: z.literal(1),
    catalog: z.record(SectionName, CatalogSection).default({}),
    tenant: TenantSection,
    audit: z.strictObject({ table: TableName }).optional().describe('Where seed runs write audit rows (audit_log layout).'),
  })
  .describe('seed.config.yaml: the tables the seed files write.');

export type SeedModelFile = z.output<typeof SeedModelSchema>;
export type FieldSpecInput = z.output<typeof FieldSpec>;
export type ProviderSecret = z.output<typeof ProviderSecretSpec>;
export type Generated = z.output<typeof GeneratedSpec>;
export type InboundKeysSpec = z.output<typeof InboundKeys>;
export type HashName = (typeof HASHES)[number];

/** A field with its shorthand expanded. */
export interface Field {
  name: string;
  /** Absent only for `generated` fields. */
  column?: string;
  type?: (typeof FIELD_TYPES)[number];
  required?: boolean;
  default?: unknown;
  enum?: (string | number)[];
  pattern?: string;
  format?: 'email' | 'url';
  lowercase?: boolean;
  min?: number;
  max?: number;
  ref?: string;
  providerSecret?: ProviderSecret;
  generated?: Generated;
  json?: { secretLeaves: boolean };
  description?: string;
  /** Line in seed.config.yaml, for messages of the live-database check. */
  line?: number;
  /** Line of its `column:` (or of the shorthand). */
  columnLine?: number;
}

/** A section of the normalized model (catalog section, tenant root, or child). */
export interface Section {
  /** Path of names from the root: ['agents', 'tools'] for the tools of an agent, ['tenant', 'users'] for a tenant's users. */
  path: string[];
  /** Where it is declared, for messages: `catalog.agents.children.tools`. */
  where: string;
  table: string;
  key: string[];
  id: string | null;
  parentColumn?: string;
  shorthand?: string;
  fields: Field[];
  children: Section[];
  parent?: Section;
  /** Inside the tenant tree. */
  tenant: boolean;
  /** Line in seed.config.yaml, for messages of the live-database check. */
  line?: number;
  /** Line of its `table:`. */
  tableLine?: number;
}

export interface SeedModel {
  /** The file it came from ('(built-in)' for the fallback). */
  file: string;
  catalog: Section[];
  tenant: Section;
  inboundKeys?: InboundKeysSpec;
  audit?: { table: string };
}

export function normalizeField(name: string, spec: FieldSpecInput): Field {
  if (typeof spec === 'string') return { name, column: spec };
  const { json, ...rest } = spec;
  return { name, ...rest, ...(json ? { json: { secretLeaves: json.secretLeaves } } : {}) } as Field;
}

type LineOf = (path: readonly PropertyKey[]) => number | undefined;

function section(path: string[], where: string, shape: SectionShape, tenant: boolean, lineOf: LineOf, parent?: Section): Section {
  const yaml = where.split('.');
  const s: Section = {
    path,
    where,
    table: shape.table,
    key: shape.key,
    id: shape.id === undefined ? 'id' : shape.id,
    ...(shape.parentColumn ? { parentColumn: shape.parentColumn } : {}),
    ...(shape.shorthand ? { shorthand: shape.shorthand } : {}),
    fields: Object.entries(shape.fields).map(([n, f]) => ({ ...normalizeField(n, f as FieldSpecInput), line: lineOf([...yaml, 'fields', n]), columnLine: lineOf([...yaml, 'fields', n, ...(typeof f === 'string' ? [] : ['column'])]) })),
    children: [],
    ...(parent ? { parent } : {}),
    tenant,
    line: lineOf(yaml),
    tableLine: lineOf([...yaml, 'table']),
  };
  s.children = Object.entries(shape.children ?? {}).map(([n, c]) => section([...path, n], `${where}.children.${n}`, c, tenant, lineOf, s));
  return s;
}

/** The model in the form the loader and the applier use (shorthands expanded, parents linked). */
export function normalizeModel(file: string, m: SeedModelFile, lineOf: LineOf = () => undefined): SeedModel {
  const catalog = Object.entries(m.catalog).map(([n, c]) => section([n], `catalog.${n}`, c as SectionShape, false, lineOf));
  const tenant = section(['tenant'], 'tenant', m.tenant as SectionShape, true, lineOf);
  return { file, catalog, tenant, ...(m.tenant.inboundKeys ? { inboundKeys: m.tenant.inboundKeys } : {}), ...(m.audit ? { audit: m.audit } : {}) };
}

/** Every section, parents before children. */
export function allSections(model: SeedModel): Section[] {
  const out: Section[] = [];
  const walk = (s: Section) => {
    out.push(s);
    s.children.forEach(walk);
  };
  model.catalog.forEach(walk);
  walk(model.tenant);
  return out;
}

/** The tables the model writes, in write order (the report's and the counts' keys). */
export function modelTables(model: SeedModel): string[] {
  const t = writeOrder(model).map((s) => s.table);
  if (model.inboundKeys) t.push(model.inboundKeys.table);
  return [...new Set(t)];
}

/**
 * Write order: catalog sections so that a referenced section comes before the sections referring to
 * it (the model check refuses cycles), then catalog children, then the tenant root and its children.
 */
export function writeOrder(model: SeedModel): Section[] {
  const byName = new Map(model.catalog.map((s) => [s.path[0]!, s]));
  const done = new Set<string>();
  const out: Section[] = [];
  const visit = (s: Section, stack: Set<string>) => {
    const name = s.path[0]!;
    if (done.has(name) || stack.has(name)) return;
    stack.add(name);
    for (const f of s.fields) if (f.ref && byName.has(f.ref)) visit(byName.get(f.ref)!, stack);
    stack.delete(name);
    done.add(name);
    out.push(s);
  };
  model.catalog.forEach((s) => visit(s, new Set()));
  const children: Section[] = [];
  const walk = (s: Section) => s.children.forEach((c) => (children.push(c), walk(c)));
  out.forEach(walk);
  const tenant: Section[] = [];
  const walkT = (s: Section) => (tenant.push(s), s.children.forEach(walkT));
  walkT(model.tenant);
  return [...out, ...children, ...tenant];
}

/** The kms:EncryptionContextKeys the seeder sends for this model (the construct's IAM condition). */
export function encryptionContextKeys(model: SeedModel): string[] {
  const keys = new Set<string>();
  for (const s of allSections(model)) {
    for (const f of s.fields) {
      if (f.providerSecret) for (const k of Object.keys(defaultContext(s, f.providerSecret))) keys.add(k);
      if (f.json?.secretLeaves) ['tenant', 'purpose'].forEach((k) => keys.add(k));
    }
  }
  return [...keys];
}

/** The encryption context templates of a provider secret (declared, or the default). */
export function defaultContext(s: Section, p: ProviderSecret): Record<string, string> {
  if (p.context) return p.context;
  return { tenant: '{tenant.id}', purpose: s.fields.some((f) => f.name === 'purpose') ? '{row.purpose}' : '{path}' };
}

export function seedModelJsonSchema(): unknown {
  return z.toJSONSchema(SeedModelSchema, { io: 'input', unrepresentable: 'any' });
}
