// @ts-nocheck -- interim: replaced by the generic applier (functions/core/seed/apply/) in the next commit
/**
 * Applies a seed set to a database: upserts by natural keys with change detection, provider keys
 * encrypted through KMS, inbound API keys generated when missing.
 *
 * Transaction unit: the whole run (catalog and every selected tenant) is ONE transaction, serialized
 * with other seeders by a transaction-scoped advisory lock. Any failure (bad secret, KMS error,
 * constraint) rolls everything back, so the database is exactly as it was. The only effect outside
 * the database is a tenant's inbound-key secret, written last; if the commit then fails, the next run
 * overwrites that secret with a fresh key (the database decides which keys are valid).
 *
 * Change detection: the current state of the selected tenants is read in bulk, compared in memory,
 * and only differing rows are sent (chunked multi-row statements). An unchanged seed writes no row
 * and makes no KMS call (secret versions come from DescribeSecret, which reads no value).
 */
import type pg from 'pg';
import type { SeedSet, TenantSeed } from './load.ts';
import type { SeedAwsClients } from './aws.ts';
import { mapPool, pushTo } from './pool.ts';
import { upsertRows, sameValue, type Column } from './sql.ts';
import { currentSecretVersions, readProviderKey, encryptForTenant, type EncryptedKey } from './llm-keys.ts';
import { apiKeySecretName, generateApiKey, storeApiKeySecret, type GeneratedApiKey } from './api-keys.ts';
import { SeedError } from './errors.ts';
import { DEFAULT_SAFETY } from '../migrate/types.ts';
import {
  emptyTables,
  MAX_LISTED_CHANGES,
  SEEDED_TABLES,
  type Change,
  type ChangeAction,
  type SeededTable,
  type SeedSummary,
} from './report.ts';

export interface ApplyOptions {
  /** Compute and report only: read-only transaction, no KMS Encrypt, no secret written. */
  plan?: boolean;
  /** Slugs whose seeded rows (users, agents, LLM settings, API keys) are deleted and recreated. */
  reset?: readonly string[];
  /** KMS and Secrets Manager clients. Needed unless no tenant has LLM keys or inbound keys. */
  aws?: SeedAwsClients;
  /** Overrides the stage's kmsKeyId (e.g. the key ARN the CDK stack passes). */
  kmsKeyId?: string;
  /** Overrides the stage's secretPrefix. */
  secretPrefix?: string;
  /**
   * This database's segment in new tenant API-key secret names (`<prefix>/tenants/<namespace>/<slug>/api-key`);
   * keys already stored keep their names. Default none: `<prefix>/tenants/<slug>/api-key`.
   */
  secretNamespace?: string;
  /** Concurrent AWS calls; default 16. */
  concurrency?: number;
  /** Who runs the seed, for audit_log; default 'migrator'. */
  actor?: string;
  /** How long to wait for another seed run's lock before failing; default 60 000 ms. */
  lockWaitTimeoutMs?: number;
  /** lock_timeout for the seed's statements (rows the application holds); default 10 000 ms. */
  lockTimeoutMs?: number;
  /** statement_timeout for the seed's statements; default 600 000 ms. */
  statementTimeoutMs?: number;
  /** Run id (migration_runs.id), recorded in audit_log.context. */
  runId?: string;
  /** Progress lines (never contain secrets). */
  log?: (line: string) => void;
}

const col = (name: string, type = 'text'): Column => ({ name, type });
/** Columns each upsert writes (natural key first). */
const COLUMNS = {
  llm_models: [col('name'), col('provider'), col('display_name'), col('context_window', 'int'), col('settings', 'jsonb')],
  tools: [col('name'), col('description'), col('kind'), col('endpoint'), col('method'), col('settings', 'jsonb')],
  agents: [col('name'), col('description'), col('settings', 'jsonb')],
  agent_tools: [col('agent_id', 'uuid'), col('tool_id', 'uuid')],
  tenants: [col('slug'), col('name'), col('domain'), col('region'), col('status'), col('settings', 'jsonb')],
  users: [col('tenant_id', 'uuid'), col('email'), col('display_name'), col('role')],
  tenant_agents: [col('tenant_id', 'uuid'), col('agent_id', 'uuid'), col('enabled', 'bool')],
  tenant_llm_settings: [col('tenant_id', 'uuid'), col('purpose'), col('model_id', 'uuid'), col('temperature', 'numeric'), col('max_tokens', 'int'), col('api_key_secret_name')],
  /** Written only together with a new (or cleared) ciphertext. */
  tenant_llm_keys: [col('api_key_ciphertext', 'bytea'), col('api_key_kms_key_arn'), col('api_key_secret_version'), col('api_key_encrypted_at', 'timestamptz')],
  tenant_api_keys: [col('tenant_id', 'uuid'), col('prefix'), col('key_hash'), col('secret_name'), col('status'), col('confirmed_at', 'timestamptz')],
} satisfies Record<string, Column[]>;

/** Arbitrary but fixed: serializes seed runs (and rotate-key) on one database. */
export const SEED_LOCK = [0x5eed, 1] as const;

type Row = Record<string, unknown>;

class Tracker {
  readonly tables = emptyTables();
  readonly changes: Change[] = [];
  omitted = 0;
  /** Per tenant slug ('' = catalog): table -> counts, for audit_log. */
  readonly perTenant = new Map<string, Partial<Record<SeededTable, { inserted: number; updated: number; deleted: number }>>>();

  record(table: SeededTable, action: ChangeAction, key: string, tenant: string, fields?: string[]): void {
    if (action === 'insert' || action === 'update' || action === 'delete') {
      const t = this.tables[table];
      if (action === 'insert') t.inserted++;
      else if (action === 'update') t.updated++;
      else t.deleted++;
      const per = this.perTenant.get(tenant) ?? {};
      const c = (per[table] ??= { inserted: 0, updated: 0, deleted: 0 });
      if (action === 'insert') c.inserted++;
      else if (action === 'update') c.updated++;
      else c.deleted++;
      this.perTenant.set(tenant, per);
    }
    if (this.changes.length < MAX_LISTED_CHANGES) this.changes.push(fields ? { table, action, key, fields } : { table, action, key });
    else this.omitted++;
  }
  /** Rows deleted by a reset: counted one by one, listed once per tenant and table. */
  deleted(table: SeededTable, tenant: string, n: number): void {
    if (n === 0) return;
    this.tables[table].deleted += n;
    const per = this.perTenant.get(tenant) ?? {};
    const c = (per[table] ??= { inserted: 0, updated: 0, deleted: 0 });
    c.deleted += n;
    this.perTenant.set(tenant, per);
    if (this.changes.length < MAX_LISTED_CHANGES) this.changes.push({ table, action: 'delete', key: `${tenant}/* (${n} rows)` });
    else this.omitted++;
  }
  unchanged(table: SeededTable, n = 1): void {
    this.tables[table].unchanged += n;
  }
}

/** Compares desired rows with existing ones by key; returns the rows to write and records the diff. */
function diff<D extends Row>(
  tracker: Tracker,
  table: SeededTable,
  desired: readonly D[],
  existing: ReadonlyMap<string, Row>,
  keyOf: (d: D) => string,
  fields: readonly (keyof D & string)[],
  tenantOf: (d: D) => string,
  labelOf: (d: D) => string = keyOf,
): D[] {
  const write: D[] = [];
  for (const d of desired) {
    const ex = existing.get(keyOf(d));
    const key = labelOf(d);
    if (!ex) {
      tracker.record(table, 'insert', key, tenantOf(d));
      write.push(d);
      continue;
    }
    const changed = fields.filter((f) => !sameValue(d[f], ex[f]));
    if (changed.length === 0) tracker.unchanged(table);
    else {
      tracker.record(table, 'update', key, tenantOf(d), changed);
      write.push(d);
    }
  }
  return write;
}

const byKey = (rows: readonly Row[], key: (r: Row) => string) => new Map(rows.map((r) => [key(r), r]));

async function columnsWithUpdatedAt(client: pg.ClientBase): Promise<Set<string>> {
  const { rows } = await client.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() AND column_name = 'updated_at' AND table_name = ANY($1)`,
    [SEEDED_TABLES],
  );
  return new Set(rows.map((r) => r.table_name));
}

/**
 * Applies `set` on `client` (a connected client NOT inside a transaction; the seeder opens and ends
 * its own). Returns the report; throws SeedError (or a pg error) after rolling back.
 */
export async function applySeed(client: pg.ClientBase, set: SeedSet, options: ApplyOptions = {}): Promise<SeedSummary> {
  const started = Date.now();
  const plan = options.plan ?? false;
  const log = options.log ?? (() => {});
  const tracker = new Tracker();
  let mark = Date.now();
  const phase = (name: string) => {
    const now = Date.now();
    log(`${name}: ${now - mark} ms`);
    mark = now;
  };
  const keys = { encrypted: 0, unchanged: 0, inboundCreated: 0 };
  const resetSlugs = new Set(options.reset ?? []);
  for (const slug of resetSlugs) {
    if (!set.tenants.some((t) => t.slug === slug)) throw new SeedError(`Cannot reset tenant "${slug}": it is not part of this seed run.`, { tenant: slug });
  }
  const kmsKeyId = options.kmsKeyId ?? set.stage.kmsKeyId;
  const secretPrefix = options.secretPrefix ?? set.stage.secretPrefix;
  const concurrency = options.concurrency ?? 16;
  const needsAws = set.tenants.some((t) => t.inboundApiKey || t.llm.some((l) => l.apiKeySecret));
  const aws = options.aws;
  if (needsAws && !aws) throw new SeedError('This seed needs KMS and Secrets Manager clients (options.aws).');

  const missing = (
    await client.query(`SELECT t FROM unnest($1::text[]) AS t WHERE to_regclass(t) IS NULL`, [SEEDED_TABLES])
  ).rows.map((r) => r.t as string);
  if (missing.length > 0) {
    throw new SeedError(`The database has no ${missing.join(', ')} table${missing.length > 1 ? 's' : ''}: apply the migrations first (migrator up). Nothing was written.`);
  }

  // Secret versions depend only on the seed files: look them up (AWS) while the database work runs.
  const secretUsers = new Map<string, string[]>();
  for (const t of set.tenants) for (const l of t.llm) if (l.apiKeySecret) pushTo(secretUsers, l.apiKeySecret, t.slug);
  const versionsPromise = aws ? currentSecretVersions(aws, secretUsers, { concurrency }) : Promise.resolve(new Map<string, string>());
  versionsPromise.catch(() => {}); // awaited below; a failure surfaces there (or the run failed earlier)

  await client.query(plan ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN');
  try {
    // Deadlines, so a deploy never waits forever on a lock (SET LOCAL: they end with the transaction).
    const ms = (v: number | undefined, d: number) => `${Math.max(0, Math.floor(v ?? d))}ms`;
    await client.query(`SELECT set_config('statement_timeout', $1, true)`, [ms(options.statementTimeoutMs, DEFAULT_SAFETY.statementTimeoutMs)]);
    if (!plan) {
      await client.query(`SELECT set_config('lock_timeout', $1, true)`, [ms(options.lockWaitTimeoutMs, DEFAULT_SAFETY.lockWaitTimeoutMs)]);
      try {
        await client.query('SELECT pg_advisory_xact_lock($1, $2)', [...SEED_LOCK]);
      } catch (e) {
        if ((e as { code?: string }).code === '55P03') {
          throw new SeedError(`Another seed run (or rotate-key) holds the seed lock; gave up after ${ms(options.lockWaitTimeoutMs, DEFAULT_SAFETY.lockWaitTimeoutMs)}. Nothing was written.`);
        }
        throw e;
      }
    }
    await client.query(`SELECT set_config('lock_timeout', $1, true)`, [ms(options.lockTimeoutMs, DEFAULT_SAFETY.lockTimeoutMs)]);
    const touch = await columnsWithUpdatedAt(client);
    const upsert = (table: SeededTable, spec: { key: string[]; columns: Column[]; update?: string[]; returning?: string }, rows: Row[]) =>
      upsertRows(client, { table, touchUpdatedAt: touch.has(table), ...spec }, rows);

    // ---- catalog -------------------------------------------------------------------------------
    const { catalog } = set;
    const exModels = (await client.query(`SELECT id, name, provider, display_name, context_window, settings FROM llm_models`)).rows;
    const exTools = (await client.query(`SELECT id, name, description, kind, endpoint, method, settings FROM tools`)).rows;
    const exAgents = (await client.query(`SELECT id, name, description, settings FROM agents`)).rows;
    const ids = {
      model: new Map<string, string>(exModels.map((r) => [r.name, r.id])),
      tool: new Map<string, string>(exTools.map((r) => [r.name, r.id])),
      agent: new Map<string, string>(exAgents.map((r) => [r.name, r.id])),
    };
    // Catalog rows belong to no tenant ('' in the per-tenant audit counts).
    const cat = () => '';

    const models = catalog.models.map((m) => ({
      name: m.name,
      provider: m.provider,
      display_name: m.displayName ?? null,
      context_window: m.contextWindow ?? null,
      settings: m.settings,
    }));
    const wModels = diff(tracker, 'llm_models', models, byKey(exModels, (r) => r.name as string), (d) => d.name, ['provider', 'display_name', 'context_window', 'settings'], cat);
    const tools = catalog.tools.map((t) => ({
      name: t.name,
      description: t.description ?? null,
      kind: t.kind,
      endpoint: t.endpoint ?? null,
      method: t.method ?? null,
      settings: t.settings,
    }));
    const wTools = diff(tracker, 'tools', tools, byKey(exTools, (r) => r.name as string), (d) => d.name, ['description', 'kind', 'endpoint', 'method', 'settings'], cat);
    const agents = catalog.agents.map((a) => ({ name: a.name, description: a.description ?? null, settings: a.settings }));
    const wAgents = diff(tracker, 'agents', agents, byKey(exAgents, (r) => r.name as string), (d) => d.name, ['description', 'settings'], cat);

    if (!plan) {
      const byName = { key: ['name'], returning: 'id, name' };
      for (const r of await upsert('llm_models', { ...byName, columns: COLUMNS.llm_models }, wModels)) ids.model.set(r.name, r.id);
      for (const r of await upsert('tools', { ...byName, columns: COLUMNS.tools }, wTools)) ids.tool.set(r.name, r.id);
      for (const r of await upsert('agents', { ...byName, columns: COLUMNS.agents }, wAgents)) ids.agent.set(r.name, r.id);
    } else {
      // Plan: new catalog entries have no id yet; placeholders keep the diff of links honest.
      for (const m of wModels) if (!ids.model.has(m.name)) ids.model.set(m.name, `new:${m.name}`);
      for (const x of wTools) if (!ids.tool.has(x.name)) ids.tool.set(x.name, `new:${x.name}`);
      for (const a of wAgents) if (!ids.agent.has(a.name)) ids.agent.set(a.name, `new:${a.name}`);
    }
    const idOf = (map: Map<string, string>, name: string) => {
      const id = map.get(name);
      if (!id) throw new SeedError(`Internal: no id for "${name}"`);
      return id;
    };

    const exLinks = new Set((await client.query(`SELECT agent_id, tool_id FROM agent_tools`)).rows.map((r) => `${r.agent_id}|${r.tool_id}`));
    const links = catalog.agents.flatMap((a) => a.tools.map((tool) => ({ agent: a.name, tool, agent_id: idOf(ids.agent, a.name), tool_id: idOf(ids.tool, tool) })));
    const wLinks = links.filter((l) => {
      if (exLinks.has(`${l.agent_id}|${l.tool_id}`)) {
        tracker.unchanged('agent_tools');
        return false;
      }
      tracker.record('agent_tools', 'insert', `${l.agent}->${l.tool}`, '');
      return true;
    });
    if (!plan) {
      await upsert('agent_tools', { key: ['agent_id', 'tool_id'], columns: COLUMNS.agent_tools, update: [] }, wLinks);
    }

    phase('catalog');
    // ---- tenants -------------------------------------------------------------------------------
    const slugs = set.tenants.map((t) => t.slug);
    const exTenants = (await client.query(`SELECT id, slug, name, domain, region, status, settings FROM tenants WHERE slug = ANY($1)`, [slugs])).rows;
    const tenantId = new Map<string, string>(exTenants.map((r) => [r.slug, r.id]));

    // Reset: delete the tenant's seeded rows first (the tenant row and its id stay, so application
    // data referencing it survives); everything is recreated below from the seed.
    const resetIds = [...resetSlugs].map((s) => tenantId.get(s)).filter((x): x is string => !!x);
    if (resetIds.length > 0) {
      for (const table of ['tenant_api_keys', 'tenant_llm_settings', 'tenant_agents', 'users'] as const) {
        const sql = plan
          ? `SELECT t.slug, count(*)::int AS n FROM ${table} x JOIN tenants t ON t.id = x.tenant_id WHERE x.tenant_id = ANY($1) GROUP BY t.slug`
          : `WITH d AS (DELETE FROM ${table} x WHERE x.tenant_id = ANY($1) RETURNING x.tenant_id)
             SELECT t.slug, count(*)::int AS n FROM d JOIN tenants t ON t.id = d.tenant_id GROUP BY t.slug`;
        for (const r of (await client.query(sql, [resetIds])).rows) tracker.deleted(table, r.slug, r.n);
      }
      log(`${plan ? 'would reset' : 'reset'}: ${[...resetSlugs].join(', ')}`);
    }
    const resetIdSet = new Set(resetIds);
    const notReset = (r: Row) => !resetIdSet.has(r.tenant_id as string);

    const tenants = set.tenants.map((t) => ({
      slug: t.slug,
      name: t.name,
      domain: t.domain ?? null,
      region: t.region ?? null,
      status: t.status,
      settings: t.settings,
    }));
    const wTenants = diff(tracker, 'tenants', tenants, byKey(exTenants, (r) => r.slug as string), (d) => d.slug, ['name', 'domain', 'region', 'status', 'settings'], (d) => d.slug);
    if (!plan) {
      const written = await upsert(
        'tenants',
        { key: ['slug'], columns: COLUMNS.tenants, returning: 'id, slug' },
        wTenants,
      );
      for (const r of written) tenantId.set(r.slug, r.id);
    } else for (const t of wTenants) if (!tenantId.has(t.slug)) tenantId.set(t.slug, `new:${t.slug}`);
    const tid = (slug: string) => idOf(tenantId, slug);
    const existingIds = [...tenantId.values()].filter((id) => !id.startsWith('new:'));
    const slugById = new Map([...tenantId].map(([s, id]) => [id, s]));
    const slugOf = (d: { tenant_id: string }) => slugById.get(d.tenant_id) ?? '?';

    phase('tenants');
    // ---- users ---------------------------------------------------------------------------------
    const exUsers = (await client.query(`SELECT tenant_id, email, display_name, role FROM users WHERE tenant_id = ANY($1)`, [existingIds])).rows.filter(notReset);
    const users = set.tenants.flatMap((t) => t.users.map((u) => ({ tenant_id: tid(t.slug), email: u.email, display_name: u.displayName ?? null, role: u.role })));
    const wUsers = diff(tracker, 'users', users, byKey(exUsers, (r) => `${r.tenant_id}|${r.email}`), (d) => `${d.tenant_id}|${d.email}`, ['display_name', 'role'], slugOf, (d) => `${slugOf(d)}/${d.email}`);

    // ---- tenant agents -------------------------------------------------------------------------
    const exTa = (await client.query(`SELECT tenant_id, agent_id, enabled FROM tenant_agents WHERE tenant_id = ANY($1)`, [existingIds])).rows.filter(notReset);
    const ta = set.tenants.flatMap((t) => t.agents.map((a) => ({ tenant_id: tid(t.slug), agent_id: idOf(ids.agent, a.name), agent: a.name, enabled: a.enabled })));
    const wTa = diff(tracker, 'tenant_agents', ta, byKey(exTa, (r) => `${r.tenant_id}|${r.agent_id}`), (d) => `${d.tenant_id}|${d.agent_id}`, ['enabled'], slugOf, (d) => `${slugOf(d)}/${d.agent}`);

    if (!plan) {
      await upsert('users', { key: ['tenant_id', 'email'], columns: COLUMNS.users }, wUsers);
      await upsert('tenant_agents', { key: ['tenant_id', 'agent_id'], columns: COLUMNS.tenant_agents }, wTa);
    }

    phase('users and agents');
    // ---- LLM settings and provider keys --------------------------------------------------------
    const exLlm = (
      await client.query(
        `SELECT tenant_id, purpose, model_id, temperature, max_tokens, api_key_secret_name, api_key_secret_version, api_key_kms_key_arn,
                api_key_ciphertext IS NOT NULL AS has_key
           FROM tenant_llm_settings WHERE tenant_id = ANY($1)`,
        [existingIds],
      )
    ).rows.filter(notReset);
    const exLlmBy = byKey(exLlm, (r) => `${r.tenant_id}|${r.purpose}`);
    const llm = set.tenants.flatMap((t) =>
      t.llm.map((l) => ({
        slug: t.slug,
        tenant_id: tid(t.slug),
        purpose: l.purpose,
        model_id: idOf(ids.model, l.model),
        temperature: l.temperature ?? null,
        max_tokens: l.maxTokens ?? null,
        api_key_secret_name: l.apiKeySecret ?? null,
      })),
    );
    // Current version of every referenced secret (metadata only), once per secret (started above).
    const versions = await versionsPromise;
    phase('secret versions');
    // A stage key given as a key ARN (the deploy passes one) is compared with the stored ARN, so moving
    // to a new key re-encrypts; an alias would need a DescribeKey call, which an unchanged run avoids.
    const keyArn = /^arn:aws[\w-]*:kms:[^:]+:\d+:key\//.test(kmsKeyId) ? kmsKeyId : undefined;
    const plainFields = ['model_id', 'temperature', 'max_tokens', 'api_key_secret_name'] as const;
    type LlmRow = (typeof llm)[number];
    const keep: LlmRow[] = [];
    const clear: LlmRow[] = [];
    const encrypt: LlmRow[] = [];
    for (const d of llm) {
      const key = `${d.slug}/${d.purpose}`;
      const ex = exLlmBy.get(`${d.tenant_id}|${d.purpose}`);
      const version = d.api_key_secret_name ? versions.get(d.api_key_secret_name) : undefined;
      const needsKey =
        !!d.api_key_secret_name &&
        (!ex || !ex.has_key || ex.api_key_secret_name !== d.api_key_secret_name || ex.api_key_secret_version !== version || (keyArn !== undefined && ex.api_key_kms_key_arn !== keyArn));
      const clearKey = !d.api_key_secret_name && !!ex?.has_key;
      const changed = ex ? plainFields.filter((f) => !sameValue(d[f], ex[f])) : [];
      if (!ex) tracker.record('tenant_llm_settings', 'insert', key, d.slug);
      else if (changed.length > 0 || needsKey || clearKey) {
        tracker.record('tenant_llm_settings', 'update', key, d.slug, [...changed, ...(needsKey ? ['api_key'] : clearKey ? ['api_key (cleared)'] : [])]);
      } else tracker.unchanged('tenant_llm_settings');
      if (needsKey) encrypt.push(d);
      else if (clearKey) clear.push(d);
      else if (!ex || changed.length > 0) keep.push(d);
      if (d.api_key_secret_name) {
        if (needsKey) tracker.record('tenant_llm_settings', 'encrypt', `${key} (secret ${d.api_key_secret_name})`, d.slug);
        else keys.unchanged++;
      }
    }

    const now = new Date().toISOString();
    let encrypted: (EncryptedKey & LlmRow & { version: string })[] = [];
    if (!plan && encrypt.length > 0 && aws) {
      // One GetSecretValue per (secret, version), then one Encrypt per tenant key (its own context).
      const values = new Map<string, Promise<string>>();
      const valueOf = (name: string, version: string) => {
        let p = values.get(`${name}@${version}`);
        if (!p) {
          p = readProviderKey(aws, name, version, secretUsers.get(name) ?? []);
          values.set(`${name}@${version}`, p);
          p.catch(() => {}); // awaited below; avoid an unhandled rejection for shared secrets
        }
        return p;
      };
      encrypted = await mapPool(encrypt, concurrency, async (d) => {
        const name = d.api_key_secret_name as string;
        const version = versions.get(name) as string;
        const plaintext = await valueOf(name, version);
        const enc = await encryptForTenant(aws, { kmsKeyId, tenantId: d.tenant_id, tenantSlug: d.slug, purpose: d.purpose, plaintext });
        return { ...d, ...enc, version };
      });
      log(`encrypted ${encrypted.length} provider key(s) with ${kmsKeyId}`);
    }
    keys.encrypted = encrypt.length;

    if (!plan) {
      const base = COLUMNS.tenant_llm_settings;
      const keyCols = COLUMNS.tenant_llm_keys;
      const spec = (cols: Column[]) => ({ key: ['tenant_id', 'purpose'], columns: cols });
      await upsert('tenant_llm_settings', spec(base), keep);
      await upsert('tenant_llm_settings', spec([...base, ...keyCols]), clear.map((d) => ({ ...d, api_key_ciphertext: null, api_key_kms_key_arn: null, api_key_secret_version: null, api_key_encrypted_at: null })));
      await upsert(
        'tenant_llm_settings',
        spec([...base, ...keyCols]),
        encrypted.map((e) => ({ ...e, api_key_ciphertext: e.ciphertext, api_key_kms_key_arn: e.keyArn, api_key_secret_version: e.version, api_key_encrypted_at: now })),
      );
    }

    phase('provider keys');
    // ---- inbound API keys (last: the only step with an effect outside the database) ------------
    const liveKeys = (
      await client.query(`SELECT tenant_id, count(*)::int AS n FROM tenant_api_keys WHERE tenant_id = ANY($1) AND status <> 'revoked' GROUP BY tenant_id`, [existingIds])
    ).rows.filter(notReset);
    const haveKey = new Set(liveKeys.map((r) => r.tenant_id as string));
    const needInbound = set.tenants.filter((t) => t.inboundApiKey && !haveKey.has(tid(t.slug)));
    tracker.unchanged('tenant_api_keys', liveKeys.reduce((n, r) => n + (r.n as number), 0));
    for (const t of needInbound) {
      tracker.record('tenant_api_keys', 'insert', `${t.slug} (secret ${apiKeySecretName(secretPrefix, t.slug, options.secretNamespace)})`, t.slug);
    }
    keys.inboundCreated = needInbound.length;
    if (!plan && needInbound.length > 0 && aws) {
      const generated = await mapPool(needInbound, concurrency, async (t: TenantSeed) => {
        const key: GeneratedApiKey = generateApiKey(t.slug);
        const secretName = apiKeySecretName(secretPrefix, t.slug, options.secretNamespace);
        await storeApiKeySecret(aws, { secretName, kmsKeyId, slug: t.slug, key });
        return { tenant_id: tid(t.slug), prefix: key.prefix, key_hash: key.hash, secret_name: secretName, status: 'active', confirmed_at: new Date().toISOString() };
      });
      await upsert(
        'tenant_api_keys',
        { key: ['prefix'], update: [], columns: COLUMNS.tenant_api_keys },
        generated,
      );
      log(`generated ${generated.length} inbound API key(s) under ${secretPrefix}/tenants/`);
    }

    phase('inbound keys');
    // ---- audit trail and verification ----------------------------------------------------------
    if (!plan && tracker.perTenant.size > 0) await writeAudit(client, tracker, tenantId, options.actor ?? 'migrator', resetSlugs, options.runId);
    const counts = await verificationCounts(client);
    await client.query(plan ? 'ROLLBACK' : 'COMMIT');
    phase('audit, counts and commit');

    const tables = tracker.tables;
    const rowsWritten = plan ? 0 : SEEDED_TABLES.reduce((n, t) => n + tables[t].inserted + tables[t].updated + tables[t].deleted, 0);
    return {
      stage: set.stage.name,
      mode: plan ? 'plan' : 'apply',
      tenants: slugs,
      reset: [...resetSlugs],
      tables,
      keys,
      rowsWritten,
      counts,
      changes: tracker.changes,
      changesOmitted: tracker.omitted,
      durationMs: Date.now() - started,
    };
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  }
}

async function writeAudit(client: pg.ClientBase, tracker: Tracker, tenantId: Map<string, string>, actor: string, reset: Set<string>, runId?: string): Promise<void> {
  const exists = (await client.query(`SELECT to_regclass('audit_log') IS NOT NULL AS ok`)).rows[0]?.ok;
  if (!exists) return;
  const rows = [...tracker.perTenant].map(([slug, changes]) => ({
    tenant_id: slug ? (tenantId.get(slug) ?? null) : null,
    actor,
    action: slug && reset.has(slug) ? 'seed.reset' : 'seed.apply',
    resource_type: slug ? 'tenant' : 'catalog',
    resource_id: slug || 'catalog',
    changes,
    context: runId ? { runId } : {},
  }));
  await client.query(
    `INSERT INTO audit_log (tenant_id, actor, action, resource_type, resource_id, changes, context)
     SELECT tenant_id, actor, action, resource_type, resource_id, changes, context
       FROM json_to_recordset($1::json) AS x(tenant_id uuid, actor text, action text, resource_type text, resource_id text, changes jsonb, context jsonb)`,
    [JSON.stringify(rows)],
  );
}

/** Rows per seeded table (the verification step of seed 000). */
export async function verificationCounts(client: pg.ClientBase): Promise<Record<SeededTable, number>> {
  const sql = `SELECT ${SEEDED_TABLES.map((t) => `(SELECT count(*) FROM ${t})::int AS ${t}`).join(', ')}`;
  const row = (await client.query(sql)).rows[0] as Record<SeededTable, number>;
  return row;
}
