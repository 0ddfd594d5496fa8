/**
 * The seed file formats, defined once with zod: validation at load time and the JSON Schemas in
 * `seeds/schema/` (for editors) both come from these definitions. Every object is strict, so a
 * misspelt field is an error instead of a silently ignored line.
 *
 * Secrets never appear in a seed file: LLM keys are referenced by Secrets Manager *name*, and users
 * carry no password (the application invites them).
 */
import * as z from 'zod';

const NAME = /^[A-Za-z][A-Za-z0-9_.:-]{0,99}$/;
// Same alphabet as the tenants_slug_format check, and short enough for key prefixes and secret names.
const SLUG = /^[a-z][a-z0-9-]{0,38}[a-z0-9]$/;
/** Secrets Manager names: its own alphabet; `{stage}` is replaced by the stage name. */
const SECRET_NAME = /^[A-Za-z0-9/_+=.@{}-]{1,512}$/;

const settings = z
  .record(z.string(), z.unknown())
  .default({})
  .describe('Free-form JSON settings stored as jsonb. Never put a secret here.');

export const Slug = z.string().regex(SLUG, 'must be lowercase letters, digits and "-", 2-40 characters, starting with a letter and not ending with "-"');
const CatalogName = z.string().regex(NAME, 'must start with a letter and use letters, digits, "_", ".", ":" or "-"');
export const SecretName = z
  .string()
  .regex(SECRET_NAME, 'must be a Secrets Manager secret name (letters, digits, /_+=.@-), optionally with {stage}');

export const LlmModelSchema = z
  .strictObject({
    name: CatalogName.describe('Natural key, e.g. gemini-2.5-flash.'),
    provider: z.string().min(1).describe('Provider id, e.g. google or openrouter.'),
    displayName: z.string().min(1).optional(),
    contextWindow: z.number().int().positive().optional(),
    settings,
  })
  .describe('An LLM model of the catalog.');

export const ToolSchema = z
  .strictObject({
    name: CatalogName.describe('Natural key: the function name agents call.'),
    description: z.string().optional(),
    kind: z.enum(['http', 'rag', 'internal']),
    endpoint: z.url().optional().describe('For http tools: the endpoint URL (no credentials in it).'),
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).optional(),
    settings,
  })
  .superRefine((tool, ctx) => {
    if (tool.kind === 'http' && !tool.endpoint) {
      ctx.addIssue({ code: 'custom', path: ['endpoint'], message: 'an http tool needs an endpoint' });
    }
  })
  .describe('A tool agents may call.');

export const AgentSchema = z
  .strictObject({
    name: CatalogName.describe('Natural key: the name the frontend sends (e.g. DebtAgent).'),
    description: z.string().optional(),
    tools: z.array(CatalogName).default([]).describe('Names of catalog tools this agent may use.'),
    settings,
  })
  .describe('An agent of the catalog.');

export const CatalogSchema = z
  .strictObject({
    $schema: z.string().optional(),
    models: z.array(LlmModelSchema).default([]),
    tools: z.array(ToolSchema).default([]),
    agents: z.array(AgentSchema).default([]),
  })
  .describe('seeds/catalog.yaml: LLM models, tools, agents and which agent uses which tool.');

export const UserSchema = z
  .strictObject({
    email: z
      .email()
      .transform((e) => e.toLowerCase())
      .describe('Natural key within the tenant; stored lowercase.'),
    displayName: z.string().min(1).optional(),
    role: z.enum(['admin', 'supporter', 'member']),
  })
  .describe('A user. No password: the application invites seeded users.');

export const TenantAgentSchema = z.union([
  CatalogName.describe('Agent name (enabled).'),
  z.strictObject({ name: CatalogName, enabled: z.boolean().default(true) }),
]);

export const LlmSettingSchema = z
  .strictObject({
    purpose: z
      .string()
      .regex(/^[a-z][a-z0-9_-]{0,39}$/, 'must be lowercase letters, digits, "_" or "-"')
      .default('default')
      .describe('What the key is for; part of the KMS encryption context. Unique per tenant.'),
    model: CatalogName.describe('Name of a catalog model.'),
    temperature: z.number().min(0).max(2).optional(),
    maxTokens: z.number().int().positive().optional(),
    apiKeySecret: SecretName.optional().describe(
      'Secrets Manager secret NAME holding {"apiKey": "..."}; "{stage}" is replaced by the stage. Never the key itself.',
    ),
  })
  .describe('The LLM a tenant uses for one purpose.');

export const TenantSchema = z
  .strictObject({
    $schema: z.string().optional(),
    slug: Slug.describe('Natural key; also the file name.'),
    name: z.string().min(1),
    kind: z.enum(['real', 'demo']).default('real').describe('Stages select tenants by kind (prod: real only).'),
    domain: z.string().min(1).optional(),
    region: z.string().min(1).optional(),
    status: z.enum(['active', 'suspended', 'archived']).default('active'),
    settings,
    agents: z.array(TenantAgentSchema).default([]),
    users: z.array(UserSchema).default([]),
    llm: z.array(LlmSettingSchema).default([]),
    inboundApiKey: z
      .boolean()
      .default(true)
      .describe('Generate an inbound API key (hash in the database, plaintext in Secrets Manager) when the tenant has none.'),
  })
  .describe('seeds/tenants/<slug>.yaml: one tenant with its agents, users and LLM settings.');

export const StageSchema = z
  .strictObject({
    protected: z.boolean().default(false).describe('A protected stage refuses reset, reseed and down, whoever asks.'),
    kinds: z.array(z.enum(['real', 'demo'])).min(1).describe('Which kinds of tenants this stage gets.'),
    only: z.array(Slug).optional().describe('Optional allow-list of tenant slugs (within the kinds).'),
    kmsKeyId: z.string().min(1).describe("The stage's customer-managed KMS key (id, ARN or alias/...)."),
    secretPrefix: z
      .string()
      .regex(/^[A-Za-z0-9/_+=.@-]{1,200}$/)
      .describe('Prefix of the per-tenant inbound API key secrets: <prefix>/tenants/<slug>/api-key.'),
  })
  .describe('One stage.');

export const StagesSchema = z
  .strictObject({
    $schema: z.string().optional(),
    stages: z.record(z.string().regex(/^[a-z][a-z0-9-]{0,29}$/, 'stage names are lowercase'), StageSchema),
  })
  .describe('seeds/stages.yaml: which tenants each stage gets, its key, and whether it is protected.');

export type Catalog = z.output<typeof CatalogSchema>;
export type LlmModelSeed = z.output<typeof LlmModelSchema>;
export type ToolSeed = z.output<typeof ToolSchema>;
export type AgentSeed = z.output<typeof AgentSchema>;
export type TenantFile = z.output<typeof TenantSchema>;
export type UserSeed = z.output<typeof UserSchema>;
export type LlmSettingSeed = z.output<typeof LlmSettingSchema>;
export type StageConfig = z.output<typeof StageSchema>;
export type StagesFile = z.output<typeof StagesSchema>;

/** The JSON Schemas written to seeds/schema/ (see `writeJsonSchemas`). */
export function jsonSchemas(): Record<string, unknown> {
  const gen = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' });
  return {
    'catalog.schema.json': gen(CatalogSchema),
    'tenant.schema.json': gen(TenantSchema),
    'stages.schema.json': gen(StagesSchema),
  };
}
