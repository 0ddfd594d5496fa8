/**
 * The model's keys table (today's tenant_api_keys): a tenant with `inboundApiKey: true` (the default)
 * and no live key (status not 'revoked') gets one: plaintext only in its Secrets Manager secret, prefix
 * and hash in the table. Last step with an effect outside the database; if the commit then fails, the
 * next run overwrites that secret with a fresh key (the database decides which keys are valid).
 * Rotation is rotate-key's job (two steps, see rotate.ts).
 */
import { apiKeySecretName, generateKey, storeApiKeySecret } from '../api-keys.ts';
import { mapPool } from '../pool.ts';
import { qIdent, qTable, upsertRows } from '../sql.ts';
import type { RunContext } from './context.ts';

export async function applyInboundKeys(ctx: RunContext): Promise<void> {
  const ik = ctx.set.model.inboundKeys;
  if (!ik) return;
  const { client, plan, tracker, set } = ctx;
  const ids = set.tenants.map((t) => ctx.rowId.get(t)).filter((x): x is string => !!x);
  const types = ctx.live.get(ik.table)!.columns;
  const { rows } = await client.query(
    `SELECT ${qIdent(ik.parentColumn)}::text AS tenant, count(*)::int AS n FROM ${qTable(ik.table)}
      WHERE ${qIdent(ik.parentColumn)} = ANY($1::${types.get(ik.parentColumn)}[]) AND ${qIdent(ik.statusColumn)} <> 'revoked' GROUP BY 1`,
    [ids],
  );
  const live = rows.filter((r) => !(plan && ctx.resetIds.has(r.tenant)));
  const have = new Set(live.map((r) => r.tenant as string));
  tracker.unchanged(ik.table, live.reduce((n, r) => n + (r.n as number), 0));
  const need = set.tenants.filter((t) => t[ik.field] !== false && !have.has(ctx.rowId.get(t) ?? ''));
  for (const t of need) tracker.record(ik.table, 'insert', `${t.slug} (secret ${apiKeySecretName(ctx.secretPrefix, t.slug, ctx.secretNamespace, ik.secretName)})`, t.slug);
  ctx.keys.inboundCreated += need.length;
  if (plan || need.length === 0) return;
  const aws = ctx.aws!;
  const generated = await mapPool(need, ctx.concurrency, async (t) => {
    const key = generateKey(ik.prefix.replaceAll('{tenant}', t.slug), ik.hash);
    const secretName = apiKeySecretName(ctx.secretPrefix, t.slug, ctx.secretNamespace, ik.secretName);
    await storeApiKeySecret(aws, { secretName, kmsKeyId: ctx.kmsKeyId, slug: t.slug, key });
    ctx.secretsWritten.push(secretName);
    return {
      [ik.parentColumn]: ctx.rowId.get(t),
      [ik.prefixColumn]: key.prefix,
      [ik.hashColumn]: key.hash,
      [ik.secretNameColumn]: secretName,
      [ik.statusColumn]: 'active',
      ...(ik.confirmedAtColumn ? { [ik.confirmedAtColumn]: new Date().toISOString() } : {}),
    };
  });
  const cols = [ik.parentColumn, ik.prefixColumn, ik.hashColumn, ik.secretNameColumn, ik.statusColumn, ...(ik.confirmedAtColumn ? [ik.confirmedAtColumn] : [])];
  await upsertRows(client, { table: ik.table, key: [ik.prefixColumn], update: [], columns: cols.map((name) => ({ name, type: types.get(name)! })) }, generated);
  ctx.log(`generated ${generated.length} inbound API key(s) under ${ctx.secretPrefix}/tenants/`);
}
