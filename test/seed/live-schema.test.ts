/**
 * The model against the live database, before anything is written: missing tables and columns, a
 * natural key without a unique index, and a value that does not cast to its column's server type are
 * each one clear error naming the file and line, the table and the column, in plan and in apply, with
 * nothing written. And write order follows refs, whatever order the model lists its sections in.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { seed, SeedValidationError } from '../../functions/core/seed/index.ts';
import { createTestDatabase } from '../support/db.ts';
import { editYaml, fingerprint, seedEnv, SEEDS, type SeedEnv } from './helpers.ts';

const lineOf = (dir: string, file: string, needle: string) => readFileSync(join(dir, file), 'utf8').split('\n').findIndex((l) => l.includes(needle)) + 1;

describe('the live-database check', () => {
  let env: SeedEnv;
  beforeEach(async () => {
    env = await seedEnv();
  });
  afterEach(async () => {
    await env.close();
  });

  const refused = async (plan: boolean) => {
    const before = await fingerprint(env.client);
    const err = await seed(env.client, { stage: 'local', dir: env.seedsDir, aws: env.aws, plan }).catch((e) => e);
    expect(err).toBeInstanceOf(SeedValidationError);
    expect(await fingerprint(env.client)).toEqual(before);
    return err as SeedValidationError;
  };

  it('a value that does not cast to its column type names file:line, table and column (plan and apply)', async () => {
    editYaml(env.seedsDir, 'catalog.yaml', (c) => void (c.models[1].contextWindow = 99999999999));
    const line = lineOf(env.seedsDir, 'catalog.yaml', '99999999999');
    for (const plan of [true, false]) {
      const err = await refused(plan);
      expect(err.message).toContain(`catalog.yaml:${line} models[1].contextWindow: the value does not fit column llm_models.context_window (integer)`);
      expect(err.message).toMatch(/out of range for type integer/);
      expect(err.issues).toHaveLength(1);
    }
  });

  it('a missing column and a natural key without a unique index name seed.config.yaml:line, table and column', async () => {
    const file = join(env.seedsDir, 'seed.config.yaml');
    const m = parse(readFileSync(file, 'utf8'));
    m.tenant.children.users.fields.role.column = 'rol';
    m.tenant.children.users.key = ['displayName'];
    m.tenant.children.users.fields.email.required = true;
    m.catalog.tools.table = 'toolz';
    writeFileSync(file, stringify(m));
    const err = await refused(true);
    const text = readFileSync(file, 'utf8');
    const at = (needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;
    expect(err.message).toContain(`seed.config.yaml:${at('column: rol')} tenant.children.users.fields.role: table users has no column rol`);
    expect(err.message).toMatch(/seed\.config\.yaml:\d+ tenant\.children\.users\.key: table users has no unique constraint or unique index on \(tenant_id, display_name\)/);
    expect(err.message).toContain(`seed.config.yaml:${at('table: toolz')} catalog.tools.table: table toolz does not exist`);
    expect(err.issues).toHaveLength(3);
    await refused(false);
  });
});

describe('a schema that is not ours', () => {
  it('writes referenced catalog sections first, whatever their order in the model; a re-run writes nothing', async () => {
    const db = await createTestDatabase('seed_order');
    const dir = mkdtempSync(join(tmpdir(), 'seeds-order-'));
    try {
      const c = await db.client();
      await c.query(`CREATE TABLE vendors (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text NOT NULL UNIQUE, since date);
                     CREATE TABLE products (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), sku text NOT NULL UNIQUE, vendor_id bigint NOT NULL REFERENCES vendors, price numeric(8,2));
                     CREATE TABLE shops (id serial PRIMARY KEY, handle text NOT NULL UNIQUE, tags text[] NOT NULL DEFAULT '{}');
                     CREATE TABLE shop_products (shop_id int NOT NULL REFERENCES shops, product_id uuid NOT NULL REFERENCES products, UNIQUE (shop_id, product_id));`);
      writeFileSync(
        join(dir, 'seed.config.yaml'),
        stringify({
          version: 1,
          catalog: {
            // Listed before the section it references.
            products: { table: 'products', key: ['sku'], fields: { sku: 'sku', vendor: { column: 'vendor_id', ref: 'vendors', required: true }, price: { column: 'price', type: 'number' } } },
            vendors: { table: 'vendors', key: ['code'], fields: { code: 'code', since: 'since' } },
          },
          tenant: {
            table: 'shops',
            key: ['handle'],
            fields: { handle: 'handle', tags: { column: 'tags', type: 'array', default: [] } },
            children: { products: { table: 'shop_products', parentColumn: 'shop_id', id: null, key: ['sku'], shorthand: 'sku', fields: { sku: { column: 'product_id', ref: 'products' } } } },
          },
        }),
      );
      writeFileSync(join(dir, 'catalog.yaml'), stringify({ products: [{ sku: 'p/1', vendor: 'acme', price: 9.5 }, { sku: 'p/2', vendor: 'acme' }], vendors: [{ code: 'acme', since: '2024-02-29' }] }));
      writeFileSync(join(dir, 'stages.yaml'), stringify({ stages: { local: { kinds: ['real'], kmsKeyId: 'alias/x', secretPrefix: 'x/local' } } }));
      mkdirSync(join(dir, 'tenants'));
      writeFileSync(join(dir, 'tenants', 'corner.yaml'), stringify({ handle: 'corner', tags: ['a', 'b'], products: ['p/1', 'p/2'] }));
      const plan = await seed(c, { stage: 'local', dir, plan: true });
      expect(plan.tables).toEqual({
        vendors: { inserted: 1, updated: 0, unchanged: 0, deleted: 0 },
        products: { inserted: 2, updated: 0, unchanged: 0, deleted: 0 },
        shops: { inserted: 1, updated: 0, unchanged: 0, deleted: 0 },
        shop_products: { inserted: 2, updated: 0, unchanged: 0, deleted: 0 },
      });
      const first = await seed(c, { stage: 'local', dir });
      expect(first.rowsWritten).toBe(6);
      expect(first.counts).toEqual({ vendors: 1, products: 2, shops: 1, shop_products: 2 });
      const second = await seed(c, { stage: 'local', dir });
      expect(second.rowsWritten).toBe(0);
      expect(second.tables.products).toEqual({ inserted: 0, updated: 0, unchanged: 2, deleted: 0 });
      // The date and numeric compare on the server: no false update from a client-side format.
      expect((await c.query(`SELECT since::text, (SELECT price::text FROM products WHERE sku = 'p/1') AS price FROM vendors`)).rows[0]).toEqual({ since: '2024-02-29', price: '9.50' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await db.drop();
    }
  });
});
