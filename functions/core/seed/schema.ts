/**
 * The file formats that do not depend on the seed model (stages.yaml), and the JSON Schemas for
 * editors: seeds/schema/{catalog,tenant,stages}.schema.json come from the model's data-file schemas
 * (data-schema.ts), schema/seed-config.schema.json from the model's own (model.ts). Every object is
 * strict, so a misspelt field is an error instead of a silently ignored line.
 *
 * Secrets never appear in a seed file: provider keys are referenced by Secrets Manager *name*, and
 * users carry no password (the application invites them).
 */
import * as z from 'zod';
import { dataSchemas, Slug, SecretName } from './data-schema.ts';
import { builtinModel } from './model-load.ts';
import type { SeedModel } from './model.ts';

export { Slug, SecretName };

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

export type StageConfig = z.output<typeof StageSchema>;
export type StagesFile = z.output<typeof StagesSchema>;

/** catalog.yaml of the built-in model (this repository's schema). */
export const CatalogSchema = dataSchemas(builtinModel()).catalog;
/** tenants/<slug>.yaml of the built-in model (this repository's schema). */
export const TenantSchema = dataSchemas(builtinModel()).tenant;

/** The JSON Schemas written to <seeds>/schema/ for a model (see `writeJsonSchemas`). */
export function jsonSchemas(model: SeedModel = builtinModel()): Record<string, unknown> {
  const gen = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' });
  const d = dataSchemas(model);
  return {
    'catalog.schema.json': gen(d.catalog),
    'tenant.schema.json': gen(d.tenant),
    'stages.schema.json': gen(StagesSchema),
  };
}
