// Regenerates functions/core/seed/builtin-model.ts from seeds/seed.config.yaml (the built-in seed model).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
export function render(text) {
  return (
    '/**\n * The built-in seed model: the text of this repository\'s seeds/seed.config.yaml, used for a seeds folder\n' +
    ' * without one. Generated (`migrator seed-schema` checks it; test/seed/model.test.ts compares it); edit\n' +
    ' * seeds/seed.config.yaml, then run `node scripts/builtin-seed-model.mjs`.\n */\n' +
    `export const BUILTIN_MODEL_YAML = ${JSON.stringify(text)};\n`
  );
}
if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(join(root, 'functions/core/seed/builtin-model.ts'), render(readFileSync(join(root, 'seeds/seed.config.yaml'), 'utf8')));
}
