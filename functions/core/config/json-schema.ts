/** Writes / checks the editor JSON Schema of the config file (schema/migrator.config.schema.json). */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { configJsonSchema } from './targets.ts';

/** Where the schema lives in this package. */
export const CONFIG_SCHEMA_FILE = join(import.meta.dirname, '../../../schema/migrator.config.schema.json');

const render = () => `${JSON.stringify(configJsonSchema(), null, 2)}\n`;

/** Write the schema file; returns its path. */
export function writeConfigSchema(file = CONFIG_SCHEMA_FILE): string {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, render());
  return file;
}

/** Whether the schema file is missing or differs from what the zod definition generates. */
export function configSchemaStale(file = CONFIG_SCHEMA_FILE): boolean {
  return !existsSync(file) || readFileSync(file, 'utf8') !== render();
}
