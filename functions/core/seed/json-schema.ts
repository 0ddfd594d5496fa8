/** Writes / checks the editor JSON Schemas in `<seeds>/schema/`, generated from the zod definitions. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jsonSchemas } from './schema.ts';

const render = (schema: unknown) => `${JSON.stringify(schema, null, 2)}\n`;

/** Writes the schema files; returns their paths. */
export function writeJsonSchemas(seedsDir: string): string[] {
  const dir = join(seedsDir, 'schema');
  mkdirSync(dir, { recursive: true });
  return Object.entries(jsonSchemas()).map(([file, schema]) => {
    writeFileSync(join(dir, file), render(schema));
    return join(dir, file);
  });
}

/** Files in `<seeds>/schema/` that are missing or differ from what the zod definitions generate. */
export function staleJsonSchemas(seedsDir: string): string[] {
  const dir = join(seedsDir, 'schema');
  return Object.entries(jsonSchemas())
    .filter(([file, schema]) => !existsSync(join(dir, file)) || readFileSync(join(dir, file), 'utf8') !== render(schema))
    .map(([file]) => join(dir, file));
}
