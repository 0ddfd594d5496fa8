/**
 * The shared catalog: LLM models, agents, tools and which agent uses which tool. Catalog rows are
 * global (not tenant-owned); the application role may only read them (see 0008).
 */
import type { MigrationBuilder } from 'node-pg-migrate';

/** created_at / updated_at as the schema contract defines them. */
function withTimestamps(pgm: MigrationBuilder) {
  return {
    created_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
    updated_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
  };
}

/** Free-form per-row settings; always a JSON object. */
const settingsColumn = (pgm: MigrationBuilder) => ({
  type: 'jsonb',
  notNull: true,
  default: pgm.func(`'{}'::jsonb`),
  check: `jsonb_typeof(settings) = 'object'`,
});

function updatedAtTrigger(pgm: MigrationBuilder, table: string): void {
  pgm.createTrigger(table, `${table}_set_updated_at`, {
    when: 'BEFORE',
    operation: 'UPDATE',
    level: 'ROW',
    function: { schema: 'public', name: 'set_updated_at' },
  });
}

// squawk-ignore-file prefer-bigint-over-int: the integer columns hold small bounded numbers, and int
// reads as a JS number where int8 would arrive as a string.

export async function up(pgm: MigrationBuilder): Promise<void> {
  pgm.createTable('llm_models', {
    id: { type: 'uuid', primaryKey: true, default: pgm.func('gen_random_uuid()') },
    // The provider's model id, e.g. 'gemini-2.5-flash'; the natural key seeds upsert on.
    name: { type: 'text', notNull: true, unique: true, check: `btrim(name) <> ''` },
    provider: { type: 'text', notNull: true, check: `btrim(provider) <> ''` },
    display_name: { type: 'text' },
    context_window: { type: 'integer', check: 'context_window > 0' },
    settings: settingsColumn(pgm),
    ...withTimestamps(pgm),
  }, { comment: 'LLM model catalog (global, read-only for the application role).' });
  updatedAtTrigger(pgm, 'llm_models');

  pgm.createTable('agents', {
    id: { type: 'uuid', primaryKey: true, default: pgm.func('gen_random_uuid()') },
    // Agent names are the bridge between frontend and backend (seed 000), so they are unique.
    name: { type: 'text', notNull: true, unique: true, check: `btrim(name) <> ''` },
    description: { type: 'text' },
    settings: settingsColumn(pgm),
    ...withTimestamps(pgm),
  }, { comment: 'Agent catalog (global, read-only for the application role).' });
  updatedAtTrigger(pgm, 'agents');

  pgm.createTable('tools', {
    id: { type: 'uuid', primaryKey: true, default: pgm.func('gen_random_uuid()') },
    name: { type: 'text', notNull: true, unique: true, check: `btrim(name) <> ''` },
    description: { type: 'text' },
    kind: { type: 'text', notNull: true, check: `kind IN ('http', 'rag', 'internal')` },
    endpoint: { type: 'text' },
    method: { type: 'text', check: `method IN ('GET', 'POST', 'PUT', 'PATCH', 'DELETE')` },
    settings: settingsColumn(pgm),
    ...withTimestamps(pgm),
  }, { comment: 'Tool catalog (global, read-only for the application role).' });
  updatedAtTrigger(pgm, 'tools');

  pgm.createTable('agent_tools', {
    agent_id: { type: 'uuid', notNull: true, references: 'agents', onDelete: 'CASCADE' },
    tool_id: { type: 'uuid', notNull: true, references: 'tools', onDelete: 'CASCADE' },
    created_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
  }, {
    constraints: { primaryKey: ['agent_id', 'tool_id'] },
    comment: 'Which agent may call which tool.',
  });
  // The primary key covers agent_id; tool_id needs its own index for the foreign key.
  pgm.createIndex('agent_tools', 'tool_id', { name: 'agent_tools_tool_id_idx' });
}

export async function down(pgm: MigrationBuilder): Promise<void> {
  pgm.dropTable('agent_tools');
  pgm.dropTable('tools');
  pgm.dropTable('agents');
  pgm.dropTable('llm_models');
}
