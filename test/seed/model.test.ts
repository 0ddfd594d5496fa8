/**
 * The seed model (seed.config.yaml): this repository's model is the built-in one, its JSON Schema is
 * current, and every kind of bad configuration is refused with seed.config.yaml:line, the path and a
 * reason, all at once.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { parseModel, loadModel, builtinModel } from '../../functions/core/seed/model-load.ts';
import { BUILTIN_MODEL_YAML } from '../../functions/core/seed/builtin-model.ts';
import { seedConfigSchemaStale } from '../../functions/core/seed/json-schema.ts';
import { encryptionContextKeys, modelTables } from '../../functions/core/seed/model.ts';
import { SeedValidationError } from '../../functions/core/seed/errors.ts';
import { ROOT, SEEDS } from './helpers.ts';

const OURS = readFileSync(join(SEEDS, 'seed.config.yaml'), 'utf8');

function refused(edit: (m: any) => void): SeedValidationError {
  const m = parse(OURS);
  edit(m);
  try {
    parseModel('seed.config.yaml', stringify(m));
  } catch (e) {
    expect(e).toBeInstanceOf(SeedValidationError);
    return e as SeedValidationError;
  }
  throw new Error('the model was accepted');
}

describe('seed model', () => {
  it("this repository's seeds/seed.config.yaml is the built-in model, and schema/seed-config.schema.json is current", () => {
    expect(BUILTIN_MODEL_YAML).toBe(OURS);
    expect(seedConfigSchemaStale()).toBe(false);
    const m = loadModel(SEEDS);
    expect(modelTables(m)).toEqual(['llm_models', 'tools', 'agents', 'agent_tools', 'tenants', 'users', 'tenant_agents', 'tenant_llm_settings', 'tenant_api_keys']);
    expect(encryptionContextKeys(m)).toEqual(['tenant', 'purpose']);
    expect(modelTables(builtinModel())).toEqual(modelTables(m));
    expect(JSON.parse(readFileSync(join(ROOT, 'schema/seed-config.schema.json'), 'utf8')).additionalProperties).toBe(false);
  });

  it('a seeds folder without seed.config.yaml uses the built-in model, with a one-line notice', () => {
    const lines: string[] = [];
    const m = loadModel(join(ROOT, 'test'), { log: (l) => lines.push(l) });
    expect(m).toBe(builtinModel());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/seed\.config\.yaml not found: using the built-in seed model/);
  });

  const cases: { name: string; edit: (m: any) => void; where: RegExp; reason: RegExp }[] = [
    { name: 'unknown ref', edit: (m) => (m.tenant.children.llm.fields.model.ref = 'modles'), where: /seed\.config\.yaml:\d+ tenant\.children\.llm\.fields\.model\.ref/, reason: /unknown ref "modles" \(catalog sections: models, tools, agents\)/ },
    { name: 'ref to a section without id', edit: (m) => (m.catalog.tools.id = null), where: /tenant|catalog\.agents\.children\.tools\.fields\.tool\.ref/, reason: /that section has no id column/ },
    { name: 'ref to a section with a two-field key', edit: (m) => (m.catalog.agents.key = ['name', 'description']), where: /tenant\.children\.agents\.fields\.name\.ref/, reason: /natural key has 2 fields/ },
    {
      name: 'two special kinds on one field',
      edit: (m) => (m.tenant.children.llm.fields.apiKeySecret.generated = { hashColumn: 'x_hash', secretName: 'x' }),
      where: /tenant\.children\.llm\.fields\.apiKeySecret/,
      reason: /at most one special kind; this one has providerSecret and generated/,
    },
    { name: 'key field not in fields', edit: (m) => (m.tenant.children.users.key = ['mail']), where: /seed\.config\.yaml:\d+ tenant\.children\.users\.key/, reason: /key field "mail" is not one of the section's fields/ },
    { name: 'duplicate table', edit: (m) => (m.catalog.tools.table = 'llm_models'), where: /catalog\.tools\.table/, reason: /table "llm_models" is already written by catalog\.models/ },
    {
      name: 'cycle in refs',
      edit: (m) => {
        m.catalog.models.fields.agent = { column: 'agent_id', ref: 'agents' };
        m.catalog.agents.fields.model = { column: 'model_id', ref: 'models' };
      },
      where: /seed\.config\.yaml:\d+ catalog\.(models|agents)/,
      reason: /cycle in refs: (models -> agents -> models|agents -> models -> agents)/,
    },
    { name: 'bad hash algorithm', edit: (m) => (m.tenant.inboundKeys.hash = 'md5'), where: /seed\.config\.yaml:\d+ tenant\.inboundKeys\.hash/, reason: /sha256/ },
    {
      name: 'providerSecret without ciphertextColumn',
      edit: (m) => delete m.tenant.children.llm.fields.apiKeySecret.providerSecret.ciphertextColumn,
      where: /tenant\.children\.llm\.fields\.apiKeySecret\.providerSecret\.ciphertextColumn/,
      reason: /expected string/i,
    },
    { name: 'a field without a column', edit: (m) => (m.tenant.fields.region = { required: true }), where: /tenant\.fields\.region/, reason: /needs a column/ },
    { name: 'shorthand that is not a field', edit: (m) => (m.tenant.children.agents.shorthand = 'agent'), where: /tenant\.children\.agents\.shorthand/, reason: /shorthand "agent" is not one of the section's fields/ },
    {
      name: 'a provider secret in the catalog (no tenant for its context)',
      edit: (m) => (m.catalog.models.fields.key = { column: 'key_name', providerSecret: { ciphertextColumn: 'key_ct', versionColumn: 'key_v' } }),
      where: /catalog\.models\.fields\.key/,
      reason: /providerSecret needs a tenant/,
    },
    { name: 'unknown key (strict)', edit: (m) => (m.tenant.children.users.parentColum = 'tenant_id'), where: /tenant\.children\.users\.parentColum/, reason: /unknown field "parentColum"/ },
    { name: 'two fields on one column', edit: (m) => (m.tenant.fields.title = 'name'), where: /tenant\.fields\.title\.column|tenant\.fields\.title/, reason: /column "name" is also written by field "name"/ },
    {
      name: 'a context template naming an unknown field',
      edit: (m) => (m.tenant.children.llm.fields.apiKeySecret.providerSecret.context = { tenant: '{tenant.id}', purpose: '{row.porpose}' }),
      where: /providerSecret\.context\.purpose/,
      reason: /"porpose" is not a field of this section/,
    },
    { name: 'a bad regular expression', edit: (m) => (m.tenant.children.llm.fields.purpose.pattern = '^[a-z'), where: /fields\.purpose\.pattern/, reason: /not a valid regular expression/ },
    { name: 'a default outside the enum', edit: (m) => (m.tenant.fields.status.default = 'gone'), where: /tenant\.fields\.status\.default/, reason: /default "gone" is not one of the enum values/ },
    { name: 'a reserved tenant field', edit: (m) => (m.tenant.fields.kind = 'kind'), where: /tenant\.fields\.kind/, reason: /"kind" is reserved in a tenant file/ },
    { name: "a tenant field named file (the loader's own)", edit: (m) => (m.tenant.fields.file = 'logo_file'), where: /tenant\.fields\.file/, reason: /"file" is reserved in a tenant file/ },
    {
      name: 'a slug field that is not the tenant key',
      edit: (m) => {
        m.tenant.fields.code = 'code';
        m.tenant.key = ['code'];
      },
      where: /tenant\.fields\.slug/,
      reason: /"slug" is reserved in a tenant file unless it is the tenant's key/,
    },
    {
      name: 'a context bound to a field that is not a key',
      edit: (m) => (m.tenant.children.llm.fields.apiKeySecret.providerSecret.context = { tenant: '{tenant.id}', model: '{row.model}' }),
      where: /providerSecret\.context\.model/,
      reason: /only the section's key fields \(purpose\) may bind a context/,
    },
    {
      name: 'a providerSecret without versionColumn',
      edit: (m) => delete m.tenant.children.llm.fields.apiKeySecret.providerSecret.versionColumn,
      where: /tenant\.children\.llm\.fields\.apiKeySecret\.providerSecret/,
      reason: /needs versionColumn/,
    },
  ];
  for (const c of cases) {
    it(`refuses: ${c.name}`, () => {
      const err = refused(c.edit);
      expect(err.message).toMatch(c.where);
      expect(err.message).toMatch(c.reason);
      expect(err.message).toContain('nothing was written');
      expect(err.issues.every((i) => i.file === 'seed.config.yaml' && typeof i.line === 'number')).toBe(true);
    });
  }

  it('reports every problem at once', () => {
    const err = refused((m) => {
      m.tenant.children.users.key = ['mail'];
      m.catalog.tools.table = 'llm_models';
      m.tenant.children.llm.fields.model.ref = 'modles';
    });
    expect(err.issues).toHaveLength(3);
  });
});
