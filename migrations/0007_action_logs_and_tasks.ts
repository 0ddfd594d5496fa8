/**
 * Operational tables: action_logs (every adapter/provider call a tenant's agents make, seed 004) and
 * agent_tasks, a task queue claimed by workers with FOR UPDATE SKIP LOCKED (seed 001).
 *
 * The claim query the partial indexes are built for (tenant-scoped through RLS for tenant_app, or
 * across tenants for a worker role that owns the queue):
 *
 *   WITH next AS (
 *     SELECT id FROM agent_tasks
 *     WHERE status = 'pending' AND run_after <= now()
 *     ORDER BY priority DESC, run_after, id
 *     LIMIT 1
 *     FOR UPDATE SKIP LOCKED
 *   )
 *   UPDATE agent_tasks t
 *   SET status = 'running', locked_at = now(), locked_by = $1, attempts = t.attempts + 1
 *   FROM next WHERE t.id = next.id
 *   RETURNING t.*;
 */
import type { MigrationBuilder } from 'node-pg-migrate';

// squawk-ignore-file prefer-bigint-over-int: the integer columns hold small bounded numbers, and int
// reads as a JS number where int8 would arrive as a string.

export async function up(pgm: MigrationBuilder): Promise<void> {
  const now = pgm.func('now()');
  const emptyObject = pgm.func(`'{}'::jsonb`);

  pgm.createTable('action_logs', {
    id: { type: 'uuid', primaryKey: true, default: pgm.func('gen_random_uuid()') },
    tenant_id: { type: 'uuid', notNull: true, references: 'tenants', onDelete: 'CASCADE' },
    action_type: { type: 'text', notNull: true, check: `btrim(action_type) <> ''` },
    provider: { type: 'text' },
    request: { type: 'jsonb' },
    response: { type: 'jsonb' },
    status: {
      type: 'text',
      notNull: true,
      default: 'pending',
      check: `status IN ('pending', 'success', 'failure', 'timeout', 'retry')`,
    },
    execution_ms: { type: 'integer', check: 'execution_ms >= 0' },
    error: { type: 'text' },
    created_at: { type: 'timestamptz', notNull: true, default: now },
    updated_at: { type: 'timestamptz', notNull: true, default: now },
  }, { comment: 'One row per provider/adapter action a tenant performed.' });
  pgm.createIndex('action_logs', ['tenant_id', { name: 'created_at', sort: 'DESC' }], {
    name: 'action_logs_tenant_id_created_at_idx',
  });
  pgm.createTrigger('action_logs', 'action_logs_set_updated_at', {
    when: 'BEFORE',
    operation: 'UPDATE',
    level: 'ROW',
    function: { schema: 'public', name: 'set_updated_at' },
  });

  pgm.createTable('agent_tasks', {
    id: { type: 'bigint', primaryKey: true, sequenceGenerated: { precedence: 'ALWAYS' } },
    tenant_id: { type: 'uuid', notNull: true, references: 'tenants', onDelete: 'CASCADE' },
    // RESTRICT: an agent with queued work cannot vanish from the catalog underneath it.
    agent_id: { type: 'uuid', notNull: true, references: 'agents', onDelete: 'RESTRICT' },
    task_type: { type: 'text', notNull: true, default: 'run', check: `btrim(task_type) <> ''` },
    status: {
      type: 'text',
      notNull: true,
      default: 'pending',
      check: `status IN ('pending', 'running', 'done', 'failed')`,
    },
    // Higher runs first.
    priority: { type: 'integer', notNull: true, default: 0 },
    payload: { type: 'jsonb', notNull: true, default: emptyObject },
    result: { type: 'jsonb' },
    run_after: { type: 'timestamptz', notNull: true, default: now },
    locked_at: { type: 'timestamptz' },
    locked_by: { type: 'text' },
    attempts: { type: 'integer', notNull: true, default: 0, check: 'attempts >= 0' },
    max_attempts: { type: 'integer', notNull: true, default: 5, check: 'max_attempts > 0' },
    last_error: { type: 'text' },
    finished_at: { type: 'timestamptz' },
    created_at: { type: 'timestamptz', notNull: true, default: now },
    updated_at: { type: 'timestamptz', notNull: true, default: now },
  }, { comment: 'Agent work queue; claim with FOR UPDATE SKIP LOCKED (see migration 0007).' });
  // A running task always says who holds it and since when (stale-lock recovery relies on it).
  pgm.addConstraint('agent_tasks', 'agent_tasks_running_is_locked', {
    check: `status <> 'running' OR (locked_at IS NOT NULL AND locked_by IS NOT NULL)`,
  });
  const claimOrder = [{ name: 'priority', sort: 'DESC' as const }, 'run_after', 'id'];
  // The claim query's index: only pending rows, in claim order, so it stays small as done rows pile up.
  pgm.createIndex('agent_tasks', claimOrder, {
    name: 'agent_tasks_claim_idx',
    where: `status = 'pending'`,
  });
  // The same claim seen through tenant_app's RLS filter (tenant_id = current tenant).
  pgm.createIndex('agent_tasks', ['tenant_id', ...claimOrder], {
    name: 'agent_tasks_tenant_claim_idx',
    where: `status = 'pending'`,
  });
  // Finding stale running tasks (worker died) to requeue them.
  pgm.createIndex('agent_tasks', 'locked_at', {
    name: 'agent_tasks_running_locked_at_idx',
    where: `status = 'running'`,
  });
  // Foreign keys: tenant deletes cascade, agent deletes are checked.
  pgm.createIndex('agent_tasks', ['tenant_id', 'created_at'], { name: 'agent_tasks_tenant_id_created_at_idx' });
  pgm.createIndex('agent_tasks', 'agent_id', { name: 'agent_tasks_agent_id_idx' });
  pgm.createTrigger('agent_tasks', 'agent_tasks_set_updated_at', {
    when: 'BEFORE',
    operation: 'UPDATE',
    level: 'ROW',
    function: { schema: 'public', name: 'set_updated_at' },
  });
}

export async function down(pgm: MigrationBuilder): Promise<void> {
  pgm.dropTable('agent_tasks');
  pgm.dropTable('action_logs');
}
