/**
 * Bookkeeping through public node-pg-migrate mechanisms, at no extra cost: the checksum row is written by
 * a step of the migration's own builder, inside its transaction, and our per-migration bookkeeping needs
 * no database round trip that node-pg-migrate itself does not make.
 */
import { afterEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { runner } from 'node-pg-migrate';
import { down, history, up } from '../../functions/core/migrate/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { fixture, type Fixture } from './fixtures.ts';

const dbs: TestDatabase[] = [];
const fxs: Fixture[] = [];
afterEach(async () => {
  for (const f of fxs.splice(0)) f.cleanup();
  await Promise.all(dbs.splice(0).map((d) => d.drop()));
});

/** n migrations: SQL with markers, and every third a TypeScript one with two builder steps. */
function folder(n: number): Fixture {
  const files: Record<string, string> = {};
  for (let i = 1; i <= n; i++) {
    const id = String(i).padStart(4, '0');
    if (i % 3 === 0) {
      files[`${id}_t${i}.ts`] = `export async function up(pgm: any) { pgm.createTable('t${i}', { id: 'id' }); pgm.addColumn('t${i}', { note: { type: 'text' } }); }\n`;
    } else {
      files[`${id}_t${i}.sql`] = `-- Up Migration\nCREATE TABLE t${i} (id int PRIMARY KEY);\nINSERT INTO t${i} VALUES (1);\n-- Down Migration\nDROP TABLE t${i};\n`;
    }
  }
  const f = fixture(files);
  fxs.push(f);
  return f;
}

/** A connected client on a fresh database whose every query() call (one round trip each) is counted. */
async function countingClient(): Promise<{ client: pg.Client; count: () => number }> {
  const db = await createTestDatabase('rt');
  dbs.push(db);
  const client = await db.client();
  let n = 0;
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    n++;
    return query(...args);
  };
  return { client, count: () => n };
}

async function ours(n: number): Promise<number> {
  const { client, count } = await countingClient();
  const result = await up({ client, dir: folder(n).dir });
  expect(result.applied).toHaveLength(n);
  return count();
}

async function theirs(n: number): Promise<number> {
  const { client, count } = await countingClient();
  const applied = await runner({
    dbClient: client, dir: folder(n).dir, direction: 'up', migrationsTable: 'pgmigrations', singleTransaction: false,
    migrationLoaderStrategies: [{ extensions: ['.sql'], loader: 'sql' }],
    logger: { debug() {}, info() {}, warn() {}, error() {} },
  } as never);
  expect(applied).toHaveLength(n);
  return count();
}

describe('bookkeeping round trips', () => {
  it('each further migration costs exactly the round trips node-pg-migrate makes for it', async () => {
    const [o3, o9, t3, t9] = [await ours(3), await ours(9), await theirs(3), await theirs(9)];
    // Six more migrations (four SQL, two TypeScript with two steps): BEGIN, steps, mark-as-run, COMMIT each.
    expect(t9 - t3).toBe(4 * 4 + 2 * 5);
    expect(o9 - o3).toBe(t9 - t3);
  });

  it('writes the checksum in the same transaction as the migration, also for one that opted out of it', async () => {
    const f = fixture({
      '0001_a.sql': '-- Up Migration\nCREATE TABLE a (id int);\n-- Down Migration\nDROP TABLE a;\n',
      '0002_idx.sql': '-- migrator:no-transaction\n-- Up Migration\nCREATE INDEX CONCURRENTLY a_id ON a (id);\n-- Down Migration\nDROP INDEX CONCURRENTLY a_id;\n',
      '0003_b.ts': "export async function up(pgm: any) { pgm.createTable('b', { id: 'id' }); }\n",
    });
    fxs.push(f);
    const db = await createTestDatabase('rt');
    dbs.push(db);
    const runId = '22222222-2222-4222-8222-222222222222';
    await up({ databaseUrl: db.url, dir: f.dir }, { runId });
    const c = await db.client();
    const { rows } = await c.query(
      `SELECT m.name, m.xmin::text = k.xmin::text AS same_transaction, k.run_id::text, k.source
         FROM pgmigrations m JOIN pgmigrations_checksums k USING (name) ORDER BY m.id`,
    );
    expect(rows).toEqual(['0001_a', '0002_idx', '0003_b'].map((name) => ({ name, same_transaction: true, run_id: runId, source: 'applied' })));
    // Reverting removes the checksum rows with the migrations rows, also for a migration reverted in reverse mode.
    expect((await down({ databaseUrl: db.url, dir: f.dir }, { count: 3 })).reverted).toEqual(['0003_b', '0002_idx', '0001_a']);
    expect((await c.query('SELECT count(*)::int AS n FROM pgmigrations_checksums')).rows[0].n).toBe(0);
    expect(await history({ databaseUrl: db.url, dir: f.dir })).toEqual([]);
  });
});
