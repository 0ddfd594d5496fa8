import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { create, lint, up } from '../../functions/core/migrate/index.ts';
import { testDatabase } from '../support/db.ts';
import { BASIC, fixture, testFixture } from './fixtures.ts';

describe('create', () => {
  it('continues a 4-digit index folder with SQL and TypeScript templates that load', async () => {
    const fx = testFixture(BASIC);
    const sql = await create(fx.dir, 'Add Tenant Plan');
    expect(sql).toMatch(/0004_add_tenant_plan\.sql$/);
    expect(readFileSync(sql, 'utf8')).toMatch(/^-- Up Migration[\s\S]*-- Down Migration/);
    const ts = await create(fx.dir, 'backfill', { type: 'ts' });
    expect(ts).toMatch(/0005_backfill\.ts$/);
    const db = await testDatabase('create');
    // (Written before the first import: a module is imported once per process.)
    fx.write('0005_backfill.ts', readFileSync(ts, 'utf8').replace(/(up\(pgm: MigrationBuilder\): Promise<void> \{)/, "$1\n  pgm.sql('UPDATE widgets SET plan = 1');"));
    // The untouched SQL template holds no statement: up refuses it (an empty migration would be recorded as applied).
    await expect(up({ databaseUrl: db.url, dir: fx.dir })).rejects.toThrow(/0004_add_tenant_plan\.sql has no SQL statement/);
    fx.write('0004_add_tenant_plan.sql', readFileSync(sql, 'utf8').replace('-- Up Migration', '-- Up Migration\nALTER TABLE widgets ADD COLUMN plan text;'));
    expect((await up({ databaseUrl: db.url, dir: fx.dir })).applied).toEqual([
      '0001_widgets', '0002_gadgets', '0003_widget_color', '0004_add_tenant_plan', '0005_backfill',
    ]);
  });

  it("continues node-pg-migrate's timestamp prefixes, and starts an empty folder at 0001", async () => {
    const fx = testFixture({ '1700000000000_init.js': 'export const up = () => {};\n' });
    const file = await create(fx.dir, 'next', { type: 'ts' });
    expect(file).toMatch(/\/\d{13}_next\.ts$/);
    const empty = fixture();
    try {
      expect(await create(empty.dir, 'first')).toMatch(/0001_first\.sql$/);
      expect(readdirSync(empty.dir)).toEqual(['0001_first.sql']);
    } finally {
      empty.cleanup();
    }
  });
});

describe('lint', () => {
  it('reports squawk findings in pending migrations, SQL and rendered TypeScript', async () => {
    const fx = testFixture({
      '0001_ok.sql': '-- Up Migration\nCREATE TABLE t (id bigint PRIMARY KEY, c text);\n',
      '0002_drop.sql': '-- Up Migration\nALTER TABLE t DROP COLUMN c;\n',
      '0003_index.ts': `export const up = (pgm) => { pgm.createIndex('t', 'c'); };\n`,
    });
    const r = await lint({ dir: fx.dir });
    expect(r.checked).toEqual(['0001_ok', '0002_drop', '0003_index']);
    expect(r.findings.map((f) => [f.migration, f.rule])).toEqual(expect.arrayContaining([
      ['0002_drop', 'ban-drop-column'],
      ['0003_index', 'require-concurrent-index-creation'],
    ]));
    const drop = r.findings.find((f) => f.rule === 'ban-drop-column')!;
    expect(drop).toMatchObject({ file: expect.stringMatching(/0002_drop\.sql$/), line: 2 });
    expect(r.findings.some((f) => f.rule === 'require-lock-timeout')).toBe(false);
  });

  it('accepts an acknowledgement with a reason and rejects one without', async () => {
    const fx = testFixture({
      '0001_drop.sql': '-- Up Migration\n-- squawk-ignore ban-drop-column: nothing reads c since release 41\nALTER TABLE t DROP COLUMN c;\n',
      '0002_index.ts': `// squawk-ignore-file require-concurrent-index-creation: t is empty when this runs\nexport const up = (pgm) => { pgm.createIndex('t', 'c'); };\n`,
    });
    expect((await lint({ dir: fx.dir })).findings).toEqual([]);
    fx.write('0001_drop.sql', '-- Up Migration\n-- squawk-ignore ban-drop-column\nALTER TABLE t DROP COLUMN c;\n');
    const r = await lint({ dir: fx.dir });
    expect(r.findings).toEqual([expect.objectContaining({ migration: '0001_drop', rule: 'ignore-without-reason', line: 2 })]);
  });

  it('lints only pending migrations when a database is given', async () => {
    const fx = testFixture({
      '0001_drop.sql': '-- Up Migration\nCREATE TABLE t (id bigint PRIMARY KEY, c text);\n',
      '0002_drop.sql': '-- Up Migration\nALTER TABLE t DROP COLUMN c;\n',
    });
    const db = await testDatabase('lint');
    await up({ databaseUrl: db.url, dir: fx.dir });
    expect(await lint({ databaseUrl: db.url, dir: fx.dir })).toEqual({ checked: [], findings: [] });
    expect((await lint({ databaseUrl: db.url, dir: fx.dir }, { all: true })).findings.map((f) => f.rule)).toContain('ban-drop-column');
  });
});
