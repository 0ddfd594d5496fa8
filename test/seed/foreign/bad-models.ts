/**
 * Ten kinds of bad seed model (and an undeclared data file field), each with the edit that breaks each
 * fixture and what the refusal must name. Used by test/seed/foreign-config.test.ts (CLI) and
 * test/handlers/foreign-seeds.test.ts (the deploy function).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { lineOf, type Fixture } from './fixtures.ts';

type Model = any;
/** What one fixture's edit broke: the file, the text of the offending line (for file:line) and what the message must name. */
export interface Broken {
  file: string;
  /** Text on the offending line; omitted when the message may point at either end of a relation (refs). */
  at?: string;
  /** The offender is a mapping: its key's line or the line after (where the mapping's first entry is). */
  block?: boolean;
  mentions: (string | RegExp)[];
}
export interface Kind {
  kind: string;
  /** Breaks the fixture's seeds folder (`dir` = its seeds/). */
  break: Record<Fixture['name'], (dir: string) => Broken>;
}

const CONFIG = 'seed.config.yaml';
function editModel(dir: string, edit: (m: Model) => void): void {
  const path = join(dir, CONFIG);
  const model = parse(readFileSync(path, 'utf8'));
  edit(model);
  writeFileSync(path, stringify(model));
}
function editText(dir: string, file: string, from: string, to: string): void {
  const path = join(dir, file);
  const text = readFileSync(path, 'utf8');
  if (!text.includes(from)) throw new Error(`arrange: ${from} not in ${file}`);
  writeFileSync(path, text.replace(from, to));
}
const model = (dir: string, edit: (m: Model) => void, broken: Omit<Broken, 'file'>): Broken => (editModel(dir, edit), { file: CONFIG, ...broken });

export const KINDS: Kind[] = [
  {
    kind: 'a table that does not exist',
    break: {
      itl: (d) => model(d, (m) => void (m.catalog.tools.table = 'tool_config'), { at: 'table: tool_config', mentions: [/\btool_config\b/, /does not exist|not found|has no|no table/i] }),
      'transform-army': (d) => model(d, (m) => void (m.tenant.table = 'tenantz'), { at: 'table: tenantz', mentions: [/\btenantz\b/, /does not exist|not found|has no|no table/i] }),
    },
  },
  {
    kind: 'a column that does not exist',
    break: {
      itl: (d) =>
        model(d, (m) => void (m.catalog.agents.fields.promptTemplate.column = 'prompt_templat'), {
          at: 'column: prompt_templat',
          mentions: ['prompt_templat', 'agent_configs', /does not exist|not found|no column/i],
        }),
      'transform-army': (d) =>
        model(d, (m) => void (m.tenant.fields.active.column = 'active_flag'), { at: 'column: active_flag', mentions: ['active_flag', 'tenants', /does not exist|not found|no column/i] }),
    },
  },
  {
    kind: 'a natural key with no unique constraint or index behind it',
    break: {
      // (tenant_id, purpose, llm_model_id) has no unique constraint: only (tenant_id, purpose) has. (The key
      // keeps purpose, which the encryption context binds: a context may bind key fields only.)
      itl: (d) => model(d, (m) => void (m.tenant.children.llm.key = ['purpose', 'model']), { mentions: ['tenant_llm_configs', 'llm_model_id', /unique/i] }),
      // The guard that also keeps seeds off the application's tables: audit_logs has no unique index on action.
      'transform-army': (d) =>
        model(d, (m) => void (m.catalog = { auditActions: { table: 'audit_logs', key: ['action'], fields: { action: 'action' } } }), {
          mentions: ['audit_logs', 'action', /unique/i],
        }),
    },
  },
  {
    kind: 'a ref to an unknown section',
    break: {
      itl: (d) => model(d, (m) => void (m.catalog.agents.fields.model.ref = 'llmModels'), { at: 'ref: llmModels', mentions: ['llmModels'] }),
      'transform-army': (d) => model(d, (m) => void (m.tenant.fields.name = { column: 'name', ref: 'plans' }), { at: 'ref: plans', mentions: ['plans'] }),
    },
  },
  {
    kind: 'a ref to a section without an id',
    break: {
      itl: (d) => model(d, (m) => void (m.catalog.outputFormats.id = null), { mentions: ['outputFormats', /\bid\b/] }),
      'transform-army': (d) =>
        model(
          d,
          (m) => {
            m.catalog = { owners: { table: 'audit_logs', key: ['action'], id: null, fields: { action: 'action' } } };
            m.tenant.fields.name = { column: 'name', ref: 'owners' };
          },
          { mentions: ['owners', /\bid\b/] },
        ),
    },
  },
  {
    kind: 'two special kinds on one field',
    break: {
      itl: (d) =>
        model(d, (m) => void (m.tenant.children.widget.fields.widgetKey.providerSecret = { ciphertextColumn: 'widget_key_hash' }), { at: 'widgetKey:', block: true, mentions: ['widgetKey', 'providerSecret', 'generated'] }),
      'transform-army': (d) => model(d, (m) => void (m.tenant.fields.apiKey.json = { secretLeaves: true }), { at: 'apiKey:', block: true, mentions: ['apiKey', 'generated', 'json'] }),
    },
  },
  {
    kind: 'a providerSecret without its ciphertext column',
    break: {
      itl: (d) => model(d, (m) => void delete m.tenant.children.llm.fields.apiKeySecret.providerSecret.ciphertextColumn, { mentions: ['apiKeySecret', 'ciphertextColumn'] }),
      'transform-army': (d) =>
        model(d, (m) => void (m.tenant.fields.crmKey = { column: 'created_at', providerSecret: { jsonField: 'apiKey' } }), { mentions: ['crmKey', 'ciphertextColumn'] }),
    },
  },
  {
    kind: 'an unknown hash algorithm',
    break: {
      itl: (d) => model(d, (m) => void (m.tenant.children.widget.fields.widgetSecret.generated.hash = 'md5'), { at: 'hash: md5', mentions: ['widgetSecret.generated.hash', '"md5"'] }),
      'transform-army': (d) => model(d, (m) => void (m.tenant.fields.apiKey.generated.hash = 'sha1'), { at: 'hash: sha1', mentions: ['apiKey.generated.hash', '"sha1"'] }),
    },
  },
  {
    kind: 'a cycle of refs',
    break: {
      itl: (d) =>
        model(
          d,
          (m) => {
            delete m.catalog.outputFormats.fields.template;
            m.catalog.outputFormats.fields.tool = { column: 'template', ref: 'tools' };
          },
          { mentions: [/cycle/i, 'tools', 'outputFormats'] },
        ),
      'transform-army': (d) =>
        model(
          d,
          (m) => {
            m.catalog = {
              regions: { table: 'action_logs', key: ['provider'], fields: { provider: 'provider_name', owner: { column: 'error_message', ref: 'owners' } } },
              owners: { table: 'audit_logs', key: ['action'], fields: { action: 'action', region: { column: 'resource_id', ref: 'regions' } } },
            };
          },
          { mentions: [/cycle/i, 'regions', 'owners'] },
        ),
    },
  },
  {
    kind: 'an unknown field in the model (a typo)',
    break: {
      itl: (d) => model(d, (m) => void (m.catalog.models.fields.name = { colum: 'model_name' }), { at: 'colum: model_name', mentions: ['colum'] }),
      'transform-army': (d) => model(d, (m) => void (m.tenant.fields.active = { column: 'is_active', defualt: true }), { at: 'defualt: true', mentions: ['defualt'] }),
    },
  },
  {
    kind: 'a data file field the model does not declare',
    break: {
      itl: (d) => (editText(d, 'tenants/vela.yaml', '    temperature: 0.3\n', '    temperature: 0.3\n    rateLimitRPM: 10\n'), { file: 'tenants/vela.yaml', at: 'rateLimitRPM', mentions: ['rateLimitRPM'] }),
      'transform-army': (d) => (editText(d, 'tenants/acme.yaml', 'active: true\n', 'active: true\nisActive: true\n'), { file: 'tenants/acme.yaml', at: 'isActive', mentions: ['isActive'] }),
    },
  },
];


/**
 * What the refusal must contain to name the offending place: `file:line` (either line for a mapping), or
 * `file:` and some line; `shown` is how the folder is named (the CLI: the --seeds-dir the user typed).
 */
export function placeOf(broken: Broken, text: string, shown = ''): RegExp {
  const file = `${shown ? '(?:^|[\\s(])' : ''}${`${shown}${broken.file}`.replaceAll('.', '\\.')}`;
  if (!broken.at) return new RegExp(`${file}:\\d+`);
  const line = lineOf(text, broken.at);
  return new RegExp(`${file}:(${broken.block ? `${line}|${line + 1}` : line})\\b`);
}
