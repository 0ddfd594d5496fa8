/**
 * Small foreign models on the real database and the KMS stand-in, one per corner of the seed engine:
 * a secret leaf that is the whole value of its column, columns whose types have no equality operator
 * (json, point) in the write guards, and a ref on the tenant root's own fields checked at load.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { seed, SeedValidationError } from '../../functions/core/seed/index.ts';
import { editYaml, fingerprint, seedEnv, type SeedEnv } from './helpers.ts';

const STAGES = { stages: { local: { kinds: ['real'], kmsKeyId: 'alias/migrator-local', secretPrefix: 'migrator/local' } } };

/** A seeds folder with the given model, catalog and tenant files (slug -> content). */
function seedsFolder(model: unknown, catalog: unknown, tenants: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'seeds-small-'));
  writeFileSync(join(dir, 'seed.config.yaml'), stringify(model));
  writeFileSync(join(dir, 'catalog.yaml'), stringify(catalog));
  writeFileSync(join(dir, 'stages.yaml'), stringify(STAGES));
  mkdirSync(join(dir, 'tenants'));
  for (const [slug, t] of Object.entries(tenants)) writeFileSync(join(dir, 'tenants', `${slug}.yaml`), stringify(t));
  return dir;
}

describe('small foreign models', () => {
  let env: SeedEnv;
  const dirs: string[] = [];
  beforeAll(async () => {
    env = await seedEnv();
  });
  afterAll(async () => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    await env?.close();
  });
  const folder = (...a: Parameters<typeof seedsFolder>) => {
    const d = seedsFolder(...a);
    dirs.push(d);
    return d;
  };
  const run = (dir: string, plan = false) => seed(env.client, { stage: 'local', dir, aws: env.aws, plan });

  it('a secret leaf that is the whole value of its column is stored at the top; a re-run encrypts and writes nothing', async () => {
    await env.client.query(`CREATE TABLE leaf_accounts (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), slug text NOT NULL UNIQUE, creds jsonb)`);
    const dir = folder(
      {
        version: 1,
        catalog: {},
        tenant: { table: 'leaf_accounts', key: ['slug'], fields: { slug: 'slug', creds: { column: 'creds', type: 'json', json: { secretLeaves: true } } } },
      },
      {},
      { acme: { slug: 'acme', creds: { secret: 'migrator/{stage}/llm/google' } } },
    );
    env.standIn.resetCalls();
    const first = await run(dir);
    expect(first.rowsWritten).toBeGreaterThanOrEqual(1);
    expect(env.standIn.callCount('TrentService.Encrypt')).toBe(1);
    const { rows } = await env.client.query(`SELECT id, creds FROM leaf_accounts WHERE slug = 'acme'`);
    const creds = rows[0].creds as Record<string, unknown>;
    expect(Object.keys(creds).sort()).toEqual(['ciphertext', 'keyId', 'secret', 'version']);
    expect(creds.secret).toBe('migrator/local/llm/google');
    expect(typeof creds.ciphertext).toBe('string');
    expect((creds.ciphertext as string).length).toBeGreaterThan(0);
    expect(creds.keyId).toMatch(/^arn:aws:kms:/);
    expect(typeof creds.version).toBe('string');

    env.standIn.resetCalls();
    const second = await run(dir);
    expect(env.standIn.callCount('TrentService.Encrypt')).toBe(0);
    expect(second.rowsWritten).toBe(0);
    expect(second.tables.leaf_accounts).toEqual({ inserted: 0, updated: 0, unchanged: 1, deleted: 0 });
    expect((await env.client.query(`SELECT creds FROM leaf_accounts WHERE slug = 'acme'`)).rows[0].creds).toEqual(creds);
  });

  it('json and point columns (no equality operator) are written, kept on a re-run and updated', async () => {
    await env.client.query(`CREATE TABLE json_shops (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), slug text NOT NULL UNIQUE, meta json, pos point);
                            CREATE TABLE json_items (shop_id uuid NOT NULL REFERENCES json_shops, code text NOT NULL, meta json, UNIQUE (shop_id, code))`);
    const dir = folder(
      {
        version: 1,
        catalog: {},
        tenant: {
          table: 'json_shops',
          key: ['slug'],
          fields: { slug: 'slug', meta: { column: 'meta', type: 'json' }, pos: 'pos' },
          children: { items: { table: 'json_items', parentColumn: 'shop_id', id: null, key: ['code'], fields: { code: 'code', meta: { column: 'meta', type: 'json' } } } },
        },
      },
      {},
      { corner: { slug: 'corner', meta: { b: 1, a: [1, 2] }, pos: '(1,2)', items: [{ code: 'x', meta: { n: 1 } }, { code: 'y', meta: null }] } },
    );
    const first = await run(dir);
    expect(first.rowsWritten).toBe(3);
    const second = await run(dir);
    expect(second.rowsWritten).toBe(0);
    expect(second.tables.json_shops).toEqual({ inserted: 0, updated: 0, unchanged: 1, deleted: 0 });
    expect(second.tables.json_items).toEqual({ inserted: 0, updated: 0, unchanged: 2, deleted: 0 });

    editYaml(dir, 'tenants/corner.yaml', (t) => {
      t.meta = { b: 2 };
      t.pos = '(3,4)';
      t.items[0].meta = { n: 2 };
    });
    const third = await run(dir);
    expect(third.rowsWritten).toBe(2);
    expect(third.tables.json_shops).toEqual({ inserted: 0, updated: 1, unchanged: 0, deleted: 0 });
    expect(third.tables.json_items).toEqual({ inserted: 0, updated: 1, unchanged: 1, deleted: 0 });
    const shop = (await env.client.query(`SELECT meta::jsonb AS meta, pos::text AS pos FROM json_shops`)).rows[0];
    expect(shop).toEqual({ meta: { b: 2 }, pos: '(3,4)' });
    const items = (await env.client.query(`SELECT code, meta::jsonb AS meta FROM json_items ORDER BY code`)).rows;
    expect(items).toEqual([
      { code: 'x', meta: { n: 2 } },
      { code: 'y', meta: null },
    ]);
    expect((await run(dir)).rowsWritten).toBe(0);
  });

  it("an unknown ref on the tenant root's own field names tenants/<slug>.yaml:line and the field, nothing written (plan and apply)", async () => {
    await env.client.query(`CREATE TABLE ref_plans (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), code text NOT NULL UNIQUE);
                            CREATE TABLE ref_accounts (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), slug text NOT NULL UNIQUE, plan_id uuid REFERENCES ref_plans)`);
    const dir = folder(
      {
        version: 1,
        catalog: { plans: { table: 'ref_plans', key: ['code'], fields: { code: 'code' } } },
        tenant: { table: 'ref_accounts', key: ['slug'], fields: { slug: 'slug', plan: { column: 'plan_id', ref: 'plans' } } },
      },
      { plans: [{ code: 'basic' }] },
      { acme: { slug: 'acme', plan: 'gold' } },
    );
    const line = readFileSync(join(dir, 'tenants', 'acme.yaml'), 'utf8').split('\n').findIndex((l) => l.includes('gold')) + 1;
    expect(line).toBeGreaterThan(0);
    for (const plan of [true, false]) {
      const before = await fingerprint(env.client);
      const err = await run(dir, plan).catch((e) => e);
      expect(err).toBeInstanceOf(SeedValidationError);
      expect(err.message).toContain(`tenants/acme.yaml:${line} plan: tenant "acme": unknown plan "gold" (not in catalog plans)`);
      expect(err.message).not.toContain('Internal');
      expect((err as SeedValidationError).issues).toHaveLength(1);
      expect(await fingerprint(env.client)).toEqual(before);
    }
    // A known plan seeds; the ref resolves to the catalog row's id.
    editYaml(dir, 'tenants/acme.yaml', (t) => void (t.plan = 'basic'));
    await run(dir);
    expect((await env.client.query(`SELECT p.code FROM ref_accounts a JOIN ref_plans p ON p.id = a.plan_id`)).rows).toEqual([{ code: 'basic' }]);
  });
});
