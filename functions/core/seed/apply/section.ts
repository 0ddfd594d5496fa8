/**
 * One section of the model, applied: its items (entries with their parents' ids), the server-side diff
 * (which is also the cast check), the decisions of the special columns (provider secrets, generated
 * keys, secret leaves), then the writes: set-based upserts (sql.ts) grouped by the columns they carry,
 * returning the ids of new rows for the sections that follow.
 */
import { updateRows, upsertRows, type Column } from '../sql.ts';
import type { Field, Section } from '../model.ts';
import { generateKey, apiKeySecretName, storeApiKeySecret, type GeneratedApiKey } from '../api-keys.ts';
import { mapPool } from '../pool.ts';
import { diffRows, type DiffResult, type DiffSpec } from './diff.ts';
import { desiredRow, itemsOf, type Desired } from './rows.ts';
import { decideProvider, encryptAll, providerContext, providerFetch, storedAlias, renderContext, type EncryptJob } from './provider-secrets.ts';
import { fillLeaf, planLeaves, type LeafJob } from './secret-leaves.ts';
import { keyColumns } from './live-schema.ts';
import type { Item, RunContext } from './context.ts';

const genAlias = (f: Field) => `gen:${f.name}`;
const leafAlias = (f: Field) => `leaf:${f.name}`;

interface Pending {
  item: Item;
  desired: Desired;
  res: DiffResult;
  found: boolean;
  /** Extra columns written with this row (special columns). */
  extra: Record<string, unknown>;
  encrypt: { field: Field; job: EncryptJob }[];
  leaves: { field: Field; value: unknown; jobs: LeafJob[] }[];
  generate: { field: Field; secretName: string }[];
  write: boolean;
}

/** Renders `{tenant}` and `{row.<field>}` in a generated key's prefix or secret name. */
const render = (t: string, item: Item) =>
  t.replace(/\{([^}]*)\}/g, (_, n: string) => (n === 'tenant' || n === 'tenant.slug' ? item.tenant!.slug : n === 'tenant.id' ? String(item.tenant!.slug) : n.startsWith('row.') ? String(item.entry[n.slice(4)] ?? '') : `{${n}}`));

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

  const returned = await write(ctx, s, toWrite, key, leafFields, compare);
  for (let i = 0; i < items.length; i++) {
    const id = (results[i]!.id as string | undefined) ?? returned.get(keyString(key, desired[i]!.values));
    ctx.rowId.set(items[i]!.entry, id ?? null);
  }
  if (later.length > 0) {
    await encryptInto(ctx, s, later, (p) => ctx.rowId.get(p.item.entry) ?? undefined);
    await write(ctx, s, later, key, leafFields, [], true);
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

async function encryptInto(ctx: RunContext, s: Section, rows: readonly Pending[], tenantIdFor: (p: Pending) => string | undefined): Promise<void> {
  const jobs: { job: EncryptJob; done: (e: { ciphertext: Buffer; keyArn: string; version: string }) => void }[] = [];
  for (const p of rows) {
    const tenantId = tenantIdFor(p)!;
    for (const e of p.encrypt) {
      const ps = e.field.providerSecret!;
      jobs.push({
        job: { ...e.job, context: providerContext(s, e.field, p.item, tenantId) },
        done: (enc) => {
          p.extra[ps.ciphertextColumn] = enc.ciphertext;
          if (ps.keyIdColumn) p.extra[ps.keyIdColumn] = enc.keyArn;
          if (ps.versionColumn) p.extra[ps.versionColumn] = enc.version;
          if (ps.encryptedAtColumn) p.extra[ps.encryptedAtColumn] = ctx.now;
        },
      });
    }
    for (const l of p.leaves) {
      for (const j of l.jobs) {
        jobs.push({
          job: { secret: j.secret, jsonField: j.jsonField, slug: p.item.tenant!.slug, context: renderContext({ tenant: '{tenant.id}', purpose: '{path}' }, { tenantId, slug: p.item.tenant!.slug, row: p.item.entry, path: j.purpose }) },
          done: (enc) => fillLeaf(l.value, j, enc),
        });
      }
    }
  }
  const out = await encryptAll(ctx, jobs.map((j) => j.job));
  out.forEach((enc, i) => jobs[i]!.done(enc));
  if (out.length > 0) ctx.log(`encrypted ${out.length} provider key(s) of ${s.table} with ${ctx.kmsKeyId}`);
}

const keyString = (key: readonly string[], row: Record<string, unknown>) => key.map((c) => String(row[c])).join('\u0000');

/** Upserts the rows, grouped by the set of columns they carry; returns key -> id of the written rows. */
async function write(ctx: RunContext, s: Section, rows: readonly Pending[], key: string[], leafFields: Field[], compare: string[], specialOnly = false): Promise<Map<string, string>> {
  const live = ctx.live.get(s.table)!;
  const col = (name: string): Column => ({ name, type: live.columns.get(name)! });
  const groups = new Map<string, Pending[]>();
  for (const p of rows) {
    const sig = Object.keys(p.extra).sort().join(',');
    const g = groups.get(sig);
    if (g) g.push(p);
    else groups.set(sig, [p]);
  }
  const ids = new Map<string, string>();
  const touch = live.columns.has('updated_at') && !s.fields.some((f) => f.column === 'updated_at');
  for (const [sig, group] of groups) {
    const extra = sig ? sig.split(',') : [];
    const base = specialOnly ? [] : compare;
    const leafCols = leafFields.map((f) => f.column!);
    const columns = [...new Set([...key, ...base, ...leafCols, ...extra])].map(col);
    const values = (ps: readonly Pending[]) =>
      ps.map((p) => {
        const v: Record<string, unknown> = { ...p.desired.values, ...p.extra };
        for (const l of p.leaves) v[l.field.column!] = l.value;
        return v;
      });
    const returning = s.id ? [s.id, ...key].map((c) => `t."${c}"`).join(', ') : undefined;
    // New rows: an upsert with every column the model writes. Existing rows: an UPDATE of the columns that
    // are sent only (a proposed INSERT tuple would have to satisfy NOT NULL on columns it does not carry).
    const fresh = group.filter((p) => !p.found && !specialOnly);
    const existing = group.filter((p) => p.found || specialOnly);
    const spec = { table: s.table, key, columns, touchUpdatedAt: touch, ...(returning ? { returning } : {}) };
    const out = [...(await upsertRows(ctx.client, spec, values(fresh))), ...(await updateRows(ctx.client, spec, values(existing)))];
    if (s.id) for (const r of out) ids.set(keyString(key, r), r[s.id] as string);
  }
  return ids;
}

/** Catalog sections: natural key -> id, for the refs of the sections that follow. */
function registerRefs(ctx: RunContext, s: Section, items: readonly Item[]): void {
  if (s.parent || s.tenant) return;
  const m = new Map<string, string | null>();
  for (const it of items) m.set(String(it.entry[s.key[0]!]), ctx.rowId.get(it.entry) ?? null);
  ctx.refIds.set(s.path[0]!, m);
}

export { storedAlias };
