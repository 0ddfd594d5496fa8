/**
 * The two foreign-schema fixtures (test/seed/fixtures/) as the tests see them: where their folders are,
 * what a first seed must leave in each table, which provider secrets they reference, where the KMS
 * ciphertexts land (and under which encryption context), and which generated keys exist. The CLI tests
 * (test/seed/foreign-cli.test.ts) and the Lambda tests (test/handlers/foreign-seeds.test.ts) assert the
 * same facts through these descriptions, so both entry points are held to one expectation.
 */
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type pg from 'pg';
import { CreateSecretCommand, GetSecretValueCommand, PutSecretValueCommand, ResourceNotFoundException, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

export const FIXTURES_DIR = resolve(import.meta.dirname, '../fixtures');

/** One KMS ciphertext the seeds stored, with the context it must decrypt under. */
export interface StoredCiphertext {
  tenant: string;
  tenantId: string;
  /** Which value inside the tenant (purpose of an LLM config, JSON path of a provider_configs leaf). */
  where: string;
  blob: Buffer;
  keyId: string | null;
  version: string | null;
  context: Record<string, string>;
}

/** A generated inbound key: its secret, and where its hash must be in the database. */
export interface GeneratedKey {
  tenant: string;
  secretName: string;
  hash: 'sha256' | 'sha256-base64';
  /** Reads the stored hash (and prefix, if the model stores one). */
  stored(client: pg.ClientBase): Promise<{ hash: string | null; prefix: string | null }>;
}

export interface Fixture {
  name: 'itl' | 'transform-army';
  /** test/seed/fixtures/<name> (migrations/ and seeds/). */
  source: string;
  /** Tenants of the local stage (real and demo). */
  tenants: string[];
  /** Seeded tables -> rows after the first run (the verification counts of the report). */
  counts: Record<string, number>;
  /** Application tables the seeds must never touch. */
  untouched: string[];
  /** Keys of every encryption context the model declares (what the construct's IAM condition must allow). */
  contextKeys: string[];
  /** KMS Encrypt calls of a first run (one per provider value). */
  encryptsFirstRun: number;
  /** Provider secrets the seeds reference for a stage: name -> SecretString JSON. Values made fresh per call. */
  providerSecrets(stage: string): Record<string, Record<string, string>>;
  /** The secret whose new version must re-encrypt one tenant's value only. */
  bump: { secret: (stage: string) => string; field: string; tenant: string; where: string };
  ciphertexts(client: pg.ClientBase): Promise<StoredCiphertext[]>;
  generated(secretPrefix: string): GeneratedKey[];
  /**
   * A value that passes the data file's own checks but does not cast to its column's type on the server;
   * `model` loosens the seed model first where the file's declared type would already refuse it.
   */
  badCast: { file: string; from: string; to: string; table: string; column: string; model?: { from: string; to: string } };
  /** A provider secret name that does not exist: the refusal names the file, the field path, the tenant and the secret. */
  missingSecret: { file: string; from: string; to: string; path: string; tenant: string };
  /** The tenant `--reset` is tried on, and the tables holding its seeded rows (column tenant_id). */
  reset: { tenant: string; childTables: string[] };
}

const fake = (what: string) => `fake-${what}-NOT-REAL-${randomBytes(12).toString('hex')}`;

async function tenantIds(client: pg.ClientBase): Promise<Map<string, string>> {
  const { rows } = await client.query<{ slug: string; id: string }>('SELECT slug, id::text AS id FROM tenants');
  return new Map(rows.map((r) => [r.slug, r.id]));
}

const ITL_TENANTS = ['efms', 'etms', 'vela'];

export const ITL: Fixture = {
  name: 'itl',
  source: join(FIXTURES_DIR, 'itl'),
  tenants: ITL_TENANTS,
  counts: {
    llm_models: 3,
    base_tools: 3,
    output_formats: 3,
    tool_configs: 5,
    agent_configs: 4,
    agent_tools: 6,
    tenants: 3,
    tenant_agent_permissions: 8,
    tenant_tool_permissions: 7,
    tenant_llm_configs: 3,
    tenant_widget_configs: 3,
  },
  untouched: [],
  contextKeys: ['purpose', 'tenant', 'tenantSlug'],
  encryptsFirstRun: 3,
  providerSecrets: (stage) => ({
    [`migrator/${stage}/llm/google`]: { apiKey: fake('google') },
    [`migrator/${stage}/llm/openrouter`]: { apiKey: fake('openrouter') },
  }),
  // Only eTMS uses Google; eFMS and Vela share the OpenRouter secret.
  bump: { secret: (stage) => `migrator/${stage}/llm/google`, field: 'apiKey', tenant: 'etms', where: 'default' },
  async ciphertexts(client) {
    const { rows } = await client.query(
      `SELECT t.slug, t.id::text AS tenant_id, c.purpose, c.encrypted_api_key AS blob, c.api_key_kms_key_id AS key_id, c.api_key_secret_version AS version
         FROM tenant_llm_configs c JOIN tenants t ON t.id = c.tenant_id ORDER BY t.slug, c.purpose`,
    );
    return rows.map((r) => ({
      tenant: r.slug,
      tenantId: r.tenant_id,
      where: r.purpose,
      blob: r.blob,
      keyId: r.key_id,
      version: r.version,
      // As seed.config.yaml declares it.
      context: { tenant: r.tenant_id, tenantSlug: r.slug, purpose: r.purpose },
    }));
  },
  generated: (prefix) =>
    ITL_TENANTS.flatMap((slug) => [
      {
        tenant: slug,
        secretName: `${prefix}/tenants/${slug}/widget-key`,
        hash: 'sha256' as const,
        stored: async (client: pg.ClientBase) => {
          const { rows } = await client.query(
            `SELECT w.widget_key_hash AS hash, w.widget_key_prefix AS prefix FROM tenant_widget_configs w JOIN tenants t ON t.id = w.tenant_id WHERE t.slug = $1`,
            [slug],
          );
          return rows[0] ?? { hash: null, prefix: null };
        },
      },
      {
        tenant: slug,
        secretName: `${prefix}/tenants/${slug}/widget-secret`,
        hash: 'sha256-base64' as const,
        stored: async (client: pg.ClientBase) => {
          const { rows } = await client.query(
            `SELECT w.widget_secret_hash AS hash, NULL::text AS prefix FROM tenant_widget_configs w JOIN tenants t ON t.id = w.tenant_id WHERE t.slug = $1`,
            [slug],
          );
          return rows[0] ?? { hash: null, prefix: null };
        },
      },
    ]),
  // A number, as declared, but beyond numeric(3, 2).
  badCast: { file: 'tenants/etms.yaml', from: 'temperature: 0.2', to: 'temperature: 42.5', table: 'tenant_llm_configs', column: 'temperature' },
  missingSecret: { file: 'tenants/vela.yaml', from: 'llm/openrouter', to: 'llm/mistral', path: 'llm[0].apiKeySecret', tenant: 'vela' },
  reset: { tenant: 'efms', childTables: ['tenant_agent_permissions', 'tenant_tool_permissions', 'tenant_llm_configs', 'tenant_widget_configs'] },
};

const TA_TENANTS = ['acme', 'globex', 'initech'];

/** Every `{ciphertext, ...}` leaf of a stored provider_configs value, with its JSON path. */
function secretLeaves(value: unknown, path: string[]): Array<{ path: string; leaf: Record<string, unknown> }> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return [];
  const o = value as Record<string, unknown>;
  if (typeof o.ciphertext === 'string') return [{ path: path.join('.'), leaf: o }];
  return Object.entries(o).flatMap(([k, v]) => secretLeaves(v, [...path, k]));
}

export const TRANSFORM_ARMY: Fixture = {
  name: 'transform-army',
  source: join(FIXTURES_DIR, 'transform-army'),
  tenants: TA_TENANTS,
  counts: { tenants: 3 },
  untouched: ['action_logs', 'audit_logs'],
  contextKeys: ['purpose', 'tenant'],
  encryptsFirstRun: 4,
  providerSecrets: (stage): Record<string, Record<string, string>> => ({
    [`migrator/${stage}/providers/acme/hubspot`]: { apiKey: fake('hubspot') },
    [`migrator/${stage}/providers/acme/zendesk`]: { apiToken: fake('zendesk') },
    [`migrator/${stage}/providers/globex/salesforce`]: { clientSecret: fake('salesforce') },
    [`migrator/${stage}/providers/globex/google-calendar`]: { refreshToken: fake('google-calendar') },
  }),
  bump: { secret: (stage) => `migrator/${stage}/providers/acme/hubspot`, field: 'apiKey', tenant: 'acme', where: 'provider_configs.hubspot.apiKey' },
  async ciphertexts(client) {
    const { rows } = await client.query(`SELECT slug, id::text AS tenant_id, provider_configs FROM tenants ORDER BY slug`);
    return rows.flatMap((r) =>
      secretLeaves(r.provider_configs, ['provider_configs']).map(({ path, leaf }) => ({
        tenant: r.slug,
        tenantId: r.tenant_id,
        where: path,
        blob: Buffer.from(String(leaf.ciphertext), 'base64'),
        keyId: (leaf.keyId as string) ?? null,
        version: (leaf.version as string) ?? null,
        // The design's default for a secret leaf: the tenant id and the leaf's JSON path.
        context: { tenant: r.tenant_id, purpose: path },
      })),
    );
  },
  generated: (prefix) =>
    TA_TENANTS.map((slug) => ({
      tenant: slug,
      secretName: `${prefix}/tenants/${slug}/api-key`,
      hash: 'sha256' as const,
      stored: async (client: pg.ClientBase) => {
        const { rows } = await client.query(`SELECT api_key_hash AS hash, api_key_prefix AS prefix FROM tenants WHERE slug = $1`, [slug]);
        return rows[0] ?? { hash: null, prefix: null };
      },
    })),
  // A model that declares the flag as text (a plausible slip): the loader accepts "maybe", the boolean column does not.
  badCast: {
    file: 'tenants/acme.yaml',
    from: 'active: true',
    to: 'active: maybe',
    table: 'tenants',
    column: 'is_active',
    model: { from: 'active: { column: is_active, default: true }', to: 'active: { column: is_active, type: json }' },
  },
  missingSecret: { file: 'tenants/globex.yaml', from: 'providers/globex/salesforce', to: 'providers/globex/pipedrive', path: 'providerConfigs.salesforce.clientSecret', tenant: 'globex' },
  reset: { tenant: 'acme', childTables: [] },
};

export const FIXTURES: Fixture[] = [ITL, TRANSFORM_ARMY];

/** A scratch copy of a fixture (migrations/ and seeds/) under `parent`, which a test may edit. */
export function copyFixture(fixture: Fixture, parent: string): string {
  const dir = join(parent, fixture.name);
  mkdirSync(dir, { recursive: true });
  cpSync(join(fixture.source, 'migrations'), join(dir, 'migrations'), { recursive: true });
  cpSync(join(fixture.source, 'seeds'), join(dir, 'seeds'), { recursive: true });
  return dir;
}

/** Creates (or puts a new version of) each secret; returns the plaintext values written. */
export async function putSecrets(sm: SecretsManagerClient, secrets: Record<string, Record<string, string>>): Promise<string[]> {
  for (const [name, value] of Object.entries(secrets)) {
    const SecretString = JSON.stringify(value);
    try {
      await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString }));
    } catch (e) {
      if (!(e instanceof ResourceNotFoundException)) throw e;
      await sm.send(new CreateSecretCommand({ Name: name, SecretString }));
    }
  }
  return Object.values(secrets).flatMap((v) => Object.values(v));
}

/** The key in a generated key's secret (JSON `{apiKey, ...}` as today's tenant keys, or a bare string). */
export async function generatedPlaintext(sm: SecretsManagerClient, name: string): Promise<string> {
  const text = (await sm.send(new GetSecretValueCommand({ SecretId: name }))).SecretString ?? '';
  try {
    const v = JSON.parse(text);
    if (typeof v === 'string') return v;
    for (const k of ['apiKey', 'key', 'secret', 'value']) if (typeof v?.[k] === 'string') return v[k];
  } catch {
    // not JSON: the secret is the key itself
  }
  return text;
}

export function hashOf(algorithm: 'sha256' | 'sha256-base64', plaintext: string): string {
  return createHash('sha256').update(plaintext, 'utf8').digest(algorithm === 'sha256' ? 'hex' : 'base64');
}

/**
 * Every place a plaintext shows up in the database: each row of every table outside the system schemas as
 * text (bytea prints as hex, jsonb as JSON), searched for the value, its hex and its base64.
 */
export async function plaintextHits(client: pg.ClientBase, needles: string[]): Promise<string[]> {
  const { rows } = await client.query<{ s: string; t: string }>(
    `SELECT schemaname AS s, tablename AS t FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2`,
  );
  const hits: string[] = [];
  for (const { s, t } of rows) {
    const rel = `"${s.replaceAll('"', '""')}"."${t.replaceAll('"', '""')}"`;
    const { rows: data } = await client.query<{ j: string }>(`SELECT coalesce(string_agg(x::text, E'\\n'), '') AS j FROM ${rel} x`);
    const text = data[0]?.j ?? '';
    for (const n of needles) {
      const forms = [n, Buffer.from(n).toString('hex'), Buffer.from(n).toString('base64')];
      if (forms.some((f) => text.includes(f))) hits.push(`${s}.${t}: ${n.slice(0, 12)}...`);
    }
  }
  return hits;
}

/** Rows of the given tables, for "exactly these rows changed" comparisons. */
export async function rowsOf(client: pg.ClientBase, tables: string[]): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const t of tables) out[t] = (await client.query(`SELECT to_jsonb(x)::text AS j FROM "${t}" x ORDER BY 1`)).rows.map((r) => r.j);
  return out;
}

/** Line number (1-based) of the first line of `text` containing `needle`. */
export function lineOf(text: string, needle: string): number {
  const i = text.split('\n').findIndex((l) => l.includes(needle));
  if (i < 0) throw new Error(`arrange: ${needle} not found`);
  return i + 1;
}
