/**
 * Writes / checks the editor JSON Schemas: `<seeds>/schema/*.json` (the data files, derived from the
 * folder's seed model) and schema/seed-config.schema.json (the model itself, in this package).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { jsonSchemas } from './schema.ts';
import { loadModel } from './model-load.ts';
import { seedModelJsonSchema } from './model.ts';

const render = (schema: unknown) => `${JSON.stringify(schema, null, 2)}\n`;

/** Where the model's schema lives in this package. */
export const SEED_CONFIG_SCHEMA_FILE = join(import.meta.dirname, '../../../schema/seed-config.schema.json');

/** Writes the schema files of the seeds folder (from its model); returns their paths. */
export function writeJsonSchemas(seedsDir: string): string[] {
  const dir = join(seedsDir, 'schema');
  mkdirSync(dir, { recursive: true });
  return Object.entries(jsonSchemas(loadModel(seedsDir))).map(([file, schema]) => {
    writeFileSync(join(dir, file), render(schema));
    return join(dir, file);
  });
}

/** Files in `<seeds>/schema/` that are missing or differ from what the folder's model generates. */
export function staleJsonSchemas(seedsDir: string): string[] {
  const dir = join(seedsDir, 'schema');
  return Object.entries(jsonSchemas(loadModel(seedsDir)))
    .filter(([file, schema]) => !existsSync(join(dir, file)) || readFileSync(join(dir, file), 'utf8') !== render(schema))
    .map(([file]) => join(dir, file));
}

/** Writes schema/seed-config.schema.json; returns its path. */
export function writeSeedConfigSchema(file = SEED_CONFIG_SCHEMA_FILE): string {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, render(seedModelJsonSchema()));
  return file;
}

/** Whether schema/seed-config.schema.json is missing or differs from the zod definition. */
export function seedConfigSchemaStale(file = SEED_CONFIG_SCHEMA_FILE): boolean {
  return !existsSync(file) || readFileSync(file, 'utf8') !== render(seedModelJsonSchema());
}
