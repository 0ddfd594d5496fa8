/**
 * One section of the model, applied: its items (entries with their parents' ids), the server-side diff
 * (which is also the cast check), the decisions of the special columns (provider secrets, generated
 * keys, secret leaves), then the writes: set-based upserts (sql.ts) grouped by the columns they carry,
 * returning the ids of new rows for the sections that follow.
 */
import type { Field, Section } from '../model.ts';
import { generateKey, apiKeySecretName, storeApiKeySecret, type GeneratedApiKey } from '../api-keys.ts';
import { mapPool } from '../pool.ts';
import { diffRows, type DiffSpec } from './diff.ts';
import { desiredRow, itemsOf } from './rows.ts';
import { decideProvider, providerFetch } from './provider-secrets.ts';
import { planLeaves } from './secret-leaves.ts';
import { keyColumns } from './live-schema.ts';
import type { Item, Pending, RunContext } from './context.ts';
import { keyString, writeRows } from './write.ts';
import { encryptInto } from './encrypt.ts';

const genAlias = (f: Field) => `gen:${f.name}`;
const leafAlias = (f: Field) => `leaf:${f.name}`;


/** Renders `{tenant}` and `{row.<field>}` in a generated key's prefix or secret name. */
const render = (t: string, item: Item) =>
  t.replace(/\{([^}]*)\}/g, (_, n: string) => (n === 'tenant' || n === 'tenant.slug' ? item.tenant!.slug : n.startsWith('row.') ? String(item.entry[n.slice(4)] ?? '') : `{${n}}`));

export async function applySection(ctx: RunContext, s: Section): Promise<void> {
  const { tracker, plan } = ctx;
  const live = ctx.live.get(s.table)!;
  const items = itemsOf(ctx, s);
  ctx.items.set(s, items);
  const key = keyColumns(s);
  const leafFields = s.fields.filter((f) => f.json?.secretLeaves);
  const compare = s.fields.filter((f) => f.column && !f.generated && !f.json?.secretLeaves && !key.includes(f.column)).map((f) => f.column!);
  const fetch: Record<string, string> = {};
  for (const f of s.fields) {
    if (f.providerSecret) Object.assign(fetch, providerFetch(f));
    if (f.generated) fetch[genAlias(f)] = `t."${f.generated.hashColumn}" IS NOT NULL`;
    if (f.json?.secretLeaves) fetch[leafAlias(f)] = `to_jsonb(t."${f.column}")`;
  }
  const fieldOf = new Map(s.fields.filter((f) => f.column).map((f) => [f.column!, f.name]));
  const spec: DiffSpec = { table: s.table, types: live.columns, key, compare, id: s.id, fetch, fieldOf, ...(ctx.set.lineAt ? { lineAt: ctx.set.lineAt } : {}) };
  const desired = items.map((it) => desiredRow(ctx, s, it));
  const results = items.length ? await diffRows(ctx.client, spec, desired) : [];
  const isRoot = s.tenant && !s.parent;

  const pending: Pending[] = items.map((item, i) => {
    const res = results[i]!;
    const d = desired[i]!;
    const tenantId = isRoot ? (res.id as string | undefined) : item.tenant ? ctx.rowId.get(item.tenant) : undefined;
    const resetRow = isRoot && !!tenantId && ctx.resetIds.has(tenantId);
    const found = res.found;
    const changed = found ? [...res.changed, ...d.pendingRefs.filter((c) => !res.changed.includes(c))] : [];
    const p: Pending = { item, desired: d, res, found, extra: {}, encrypt: [], leaves: [], generate: [], write: !found || changed.length > 0 };
    const notes: string[] = [];
    for (const f of s.fields) {
      if (f.providerSecret) {
        const dec = decideProvider(ctx, f, item, res, found);
        const ps = f.providerSecret;
        if (dec.encrypt) {
          const secret = item.entry[f.name] as string;
          p.encrypt.push({ field: f, job: { secret, jsonField: ps.jsonField, context: {}, slug: item.tenant!.slug } });
          notes.push(ps.ciphertextColumn);
          tracker.record(s.table, 'encrypt', `${item.label} (secret ${secret})`, item.tenant?.slug ?? '');
          p.write = true;
        } else if (dec.clear) {
          for (const c of [ps.ciphertextColumn, ps.keyIdColumn, ps.versionColumn, ps.encryptedAtColumn]) if (c) p.extra[c] = null;
          notes.push(`${ps.ciphertextColumn} (cleared)`);
          p.write = true;
        } else if (item.entry[f.name]) ctx.keys.unchanged++;
      }
      if (f.generated) {
        const has = found && res.stored[genAlias(f)] === true && !resetRow;
        if (item.entry[f.name] === true && !has) {
          const secretName = apiKeySecretName(ctx.secretPrefix, item.tenant!.slug, ctx.secretNamespace, render(f.generated.secretName, item));
          p.generate.push({ field: f, secretName });
          notes.push(f.generated.hashColumn);
          tracker.record(s.table, 'generate', `${item.label} (secret ${secretName})`, item.tenant?.slug ?? '');
          p.write = true;
        }
      }
      if (f.json?.secretLeaves) {
        const stored = found ? res.stored[leafAlias(f)] : null;
        const lp = planLeaves(ctx, f.column!, item.entry[f.name], stored);
        p.leaves.push({ field: f, value: lp.value, jobs: lp.jobs });
        for (const j of lp.jobs) tracker.record(s.table, 'encrypt', `${item.label} ${j.purpose} (secret ${j.secret})`, item.tenant?.slug ?? '');
        ctx.keys.encrypted += lp.jobs.length;
        ctx.keys.unchanged += countLeaves(lp.value) - lp.jobs.length;
        if (lp.changed && found) notes.push(f.column!);
        if (lp.changed) p.write = true;
      }
    }
    ctx.keys.encrypted += p.encrypt.length;
    ctx.keys.inboundCreated += p.generate.length;
    const tenant = item.tenant?.slug ?? '';
    if (!found) tracker.record(s.table, 'insert', item.label, tenant);
    else if (p.write) tracker.record(s.table, 'update', item.label, tenant, [...changed, ...notes]);
    else tracker.unchanged(s.table);
    return p;
  });

  if (plan) {
    for (let i = 0; i < items.length; i++) ctx.rowId.set(items[i]!.entry, (results[i]!.id as string | undefined) ?? null);
    registerRefs(ctx, s, items);
    return;
  }

  const toWrite = pending.filter((p) => p.write);
  // Generated keys: plaintext to Secrets Manager (the only place it goes), hash and prefix to the row.
  const gens = toWrite.flatMap((p) => p.generate.map((g) => ({ p, g })));
  if (gens.length > 0) {
    const aws = ctx.aws!;
    await mapPool(gens, ctx.concurrency, async ({ p, g }) => {
      const spec = g.field.generated!;
      const key: GeneratedApiKey = generateKey(render(spec.prefix ?? 'k_{tenant}_', p.item), spec.hash);
      await storeApiKeySecret(aws, { secretName: g.secretName, kmsKeyId: ctx.kmsKeyId, slug: p.item.tenant!.slug, key, what: `Key ${s.table}.${spec.hashColumn}` });
      ctx.secretsWritten.push(g.secretName);
      p.extra[spec.hashColumn] = key.hash;
      if (spec.prefixColumn) p.extra[spec.prefixColumn] = key.prefix;
    });
    ctx.log(`generated ${gens.length} key(s) of ${s.table} under ${ctx.secretPrefix}/tenants/`);
  }

  // Encryption needs the tenant's id: known here except for new tenant rows (encrypted after their insert).
  const tenantIdFor = (p: Pending): string | undefined => (isRoot ? ((p.res.id as string | undefined) ?? undefined) : (ctx.rowId.get(p.item.tenant!) ?? undefined));
  const now = toWrite.filter((p) => (p.encrypt.length > 0 || p.leaves.some((l) => l.jobs.length > 0)) && tenantIdFor(p));
  const later = toWrite.filter((p) => (p.encrypt.length > 0 || p.leaves.some((l) => l.jobs.length > 0)) && !tenantIdFor(p));
  await encryptInto(ctx, s, now, tenantIdFor);

  const returned = await writeRows(ctx, s, toWrite, key, leafFields, compare);
  for (let i = 0; i < items.length; i++) {
    const id = (results[i]!.id as string | undefined) ?? returned.get(keyString(key, desired[i]!.values));
    ctx.rowId.set(items[i]!.entry, id ?? null);
  }
  if (later.length > 0) {
    await encryptInto(ctx, s, later, (p) => ctx.rowId.get(p.item.entry) ?? undefined);
    await writeRows(ctx, s, later, key, leafFields, [], true);
  }
  registerRefs(ctx, s, items);
}

function countLeaves(v: unknown): number {
  if (Array.isArray(v)) return v.reduce((n: number, x) => n + countLeaves(x), 0);
  if (v && typeof v === 'object') {
    if ('secret' in v && 'version' in v) return 1;
    return Object.values(v).reduce((n: number, x) => n + countLeaves(x), 0);
  }
  return 0;
}


/** Catalog sections: natural key -> id, for the refs of the sections that follow. */
function registerRefs(ctx: RunContext, s: Section, items: readonly Item[]): void {
  if (s.parent || s.tenant) return;
  const m = new Map<string, string | null>();
  for (const it of items) m.set(String(it.entry[s.key[0]!]), ctx.rowId.get(it.entry) ?? null);
  ctx.refIds.set(s.path[0]!, m);
}

