/** Audit rows of a seed run (the model's `audit` table, audit_log's layout): one per tenant touched, one for the catalog. */
import { qTable } from '../sql.ts';
import type { RunContext } from './context.ts';

export async function writeAudit(ctx: RunContext, o: { actor: string; reset: ReadonlySet<string>; runId?: string }): Promise<void> {
  const table = ctx.set.model.audit?.table;
  if (!table || ctx.plan || ctx.tracker.perTenant.size === 0) return;
  const tenantId = new Map(ctx.set.tenants.map((t) => [t.slug, ctx.rowId.get(t) ?? null]));
  const rows = [...ctx.tracker.perTenant].map(([slug, changes]) => ({
    tenant_id: slug ? (tenantId.get(slug) ?? null) : null,
    actor: o.actor,
    action: slug && o.reset.has(slug) ? 'seed.reset' : 'seed.apply',
    resource_type: slug ? 'tenant' : 'catalog',
    resource_id: slug || 'catalog',
    changes,
    context: o.runId ? { runId: o.runId } : {},
  }));
  await ctx.client.query(
    `INSERT INTO ${qTable(table)} (tenant_id, actor, action, resource_type, resource_id, changes, context)
     SELECT tenant_id, actor, action, resource_type, resource_id, changes, context
       FROM json_to_recordset($1::json) AS x(tenant_id uuid, actor text, action text, resource_type text, resource_id text, changes jsonb, context jsonb)`,
    [JSON.stringify(rows)],
  );
}
