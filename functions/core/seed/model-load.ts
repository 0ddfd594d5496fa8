/**
 * Reads the seed model of a seeds folder: `seed.config.yaml` through the strict reader and zod, then
 * the model checks. A folder without one uses the built-in model of this repository's schema (the
 * same text as this repository's seeds/seed.config.yaml), so a 0.2 seeds folder keeps working.
 */
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { normalizeModel, SeedModelSchema, type SeedModel } from './model.ts';
import { checkModel } from './model-check.ts';
import { BUILTIN_MODEL_YAML } from './builtin-model.ts';
import { SeedValidationError } from './errors.ts';
import { parseSeedText, readSeedFile, withoutSecrets } from './yaml-file.ts';

export const MODEL_FILE = 'seed.config.yaml';
/** How messages name the built-in model. */
export const BUILTIN_MODEL_NAME = 'seed.config.yaml (built-in)';

/** Whether the folder has its own model file (a symlink or other non-file is still "has": the reader refuses it). */
export function hasModelFile(dir: string): boolean {
  try {
    lstatSync(join(dir, MODEL_FILE));
    return true;
  } catch {
    return false;
  }
}

let builtin: SeedModel | undefined;
/** This repository's schema as a model (parsed once; its text is checked by a test to equal seeds/seed.config.yaml). */
export function builtinModel(): SeedModel {
  if (!builtin) builtin = parseModel(BUILTIN_MODEL_NAME, BUILTIN_MODEL_YAML);
  return builtin;
}

/** Parses and checks model text; throws SeedValidationError with every issue. Exported for tests. */
export function parseModel(file: string, text: string): SeedModel {
  const found = new Set<string>();
  const parsed = parseSeedText(file, text, SeedModelSchema, found);
  return finish(file, parsed, found);
}

function finish(file: string, parsed: ReturnType<typeof parseSeedText<typeof SeedModelSchema>>, found: Set<string>): SeedModel {
  if (!parsed.value) throw new SeedValidationError(withoutSecrets(parsed.issues, found));
  const model = normalizeModel(file, parsed.value, parsed.lineOf);
  const issues = checkModel(model, parsed.lineOf);
  if (issues.length > 0) throw new SeedValidationError(issues);
  return model;
}

export interface ModelLoadOptions {
  /** One-line notices (the built-in model is used). */
  log?: (line: string) => void;
  /** How messages name seed.config.yaml (e.g. `seeds/seed.config.yaml`, the path the user gave); default `seed.config.yaml`. */
  display?: string;
}

/** The model of `dir`: its seed.config.yaml, or the built-in one (with a notice). */
export function loadModel(dir: string, options: ModelLoadOptions = {}): SeedModel {
  if (!hasModelFile(dir)) {
    options.log?.(`${join(dir, MODEL_FILE)} not found: using the built-in seed model of this package's schema (see seeds/README.md, "The seed model").`);
    return builtinModel();
  }
  const found = new Set<string>();
  const parsed = readSeedFile(dir, MODEL_FILE, SeedModelSchema, found);
  const display = options.display ?? MODEL_FILE;
  return finish(display, { ...parsed, issues: parsed.issues.map((i) => ({ ...i, file: display })) }, found);
}
