/**
 * Issue 12 item 4 through the real launcher: the ITL-like and the Transform-Army-like fixtures (their own
 * migrations and seed models, test/seed/fixtures/) seeded with `node bin/migrator.mjs seed --seeds-dir seeds`
 * typed in the project folder, against real PostgreSQL and the KMS / Secrets Manager stand-in. For each:
 * plan writes nothing; the first run writes what the model says (counts in the report and the run history);
 * the second writes nothing and calls no Encrypt; a new secret version re-encrypts only that tenant's value;
 * another tenant's context cannot decrypt it; `reseed --reset` of one tenant; a value that does not cast
 * to its column is refused naming file:line, table and column; no plaintext in the database or the output.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprint, writeCounters } from './helpers.ts';
import { FIXTURES, generatedPlaintext, lineOf, plaintextHits, putSecrets } from './foreign/fixtures.ts';
import { expectCiphertexts, expectContextsBound, expectGeneratedKeys, expectOnlyBumpedReencrypted, expectTableCounts, rowsOfOtherTenants } from './foreign/checks.ts';
import { fixtureProject, type FixtureProject } from './foreign/cli.ts';

const RUNS = 'public.migration_runs';
const withoutRuns = (f: Record<string, unknown>) => Object.fromEntries(Object.entries(f).filter(([t]) => t !== RUNS));

describe.each(FIXTURES)('$name fixture: `migrator seed` on a schema that is not ours', (fx) => {
  let p: FixtureProject;
  const seedArgs = ['--seeds-dir', 'seeds', '--stage', 'local'];
  /** Generated plaintexts seen so far (every key, also ones replaced by --reset). */
  const generated = new Set<string>();
  const encrypts = () => p.standIn.callCount('TrentService.Encrypt');
  const tables = () => [...Object.keys(fx.counts), ...fx.untouched];
  const runCount = async () => (await p.client.query(`SELECT count(*)::int AS n FROM ${RUNS}`)).rows[0].n as number;
  async function rememberGenerated() {
    for (const g of fx.generated(p.stage.secretPrefix)) generated.add(await generatedPlaintext(p.sm, g.secretName));
  }

  beforeAll(async () => {
    p = await fixtureProject(fx);
    const up = await p.migrator('up');
    expect(up.stderr).toMatch(/applied/);
    expect(up.code).toBe(0);
  });
  afterAll(async () => {
    await p?.close();
  });

  it('--plan on the empty tables writes nothing, calls no Encrypt and creates no secret', async () => {
    const before = await fingerprint(p.client);
    p.standIn.resetCalls();
    const r = await p.migrator('seed', ...seedArgs, '--plan');
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Plan (nothing written)');
    for (const t of Object.keys(fx.counts)) expect(r.stdout).toContain(t);
    // The same plan as JSON: what it would insert, per table and per tenant.
    const json = await p.migrator('seed', ...seedArgs, '--plan', '--json');
    expect(json.code, json.stderr).toBe(0);
    const plan = JSON.parse(json.stdout);
    expect(plan.mode).toBe('plan');
    for (const [t, n] of Object.entries(fx.counts)) expect(plan.tables[t], t).toMatchObject({ inserted: n, updated: 0, deleted: 0 });
    const inserts = plan.changes.filter((c: { table: string; action: string }) => c.table === 'tenants' && c.action === 'insert').map((c: { key: string }) => c.key);
    expect(inserts.sort()).toEqual(fx.tenants);
    expect(await fingerprint(p.client)).toEqual(before);
    expect(encrypts()).toBe(0);
    expect(p.standIn.callCount('secretsmanager.CreateSecret') + p.standIn.callCount('secretsmanager.PutSecretValue')).toBe(0);
  });

  it('first run writes what the model says: counts per table in the report, the database and the run history', async () => {
    p.standIn.resetCalls();
    const r = await p.migrator('seed', ...seedArgs, '--json', '--verbose');
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.counts).toEqual(fx.counts);
    for (const [t, n] of Object.entries(fx.counts)) expect(report.tables[t], t).toMatchObject({ inserted: n, updated: 0, deleted: 0 });
    expect(report.rowsWritten).toBe(Object.values(fx.counts).reduce((a, b) => a + b, 0));
    await expectTableCounts(p.client, fx);
    expect(encrypts()).toBe(fx.encryptsFirstRun);

    const runs = await p.migrator('runs', '--json', '--limit', '1');
    expect(runs.code).toBe(0);
    const [last] = JSON.parse(runs.stdout);
    expect(last).toMatchObject({ outcome: 'succeeded', command: 'seed --stage local' });
    expect(last.seedSummary.counts).toEqual(fx.counts);

    await expectCiphertexts(p.client, fx, p.keyArn);
    for (const k of await expectGeneratedKeys(p.client, p.sm, fx, p.stage.secretPrefix)) generated.add(k);
  });

  it('second run writes no row, calls no Encrypt and regenerates no key', async () => {
    const hashes = await Promise.all(fx.generated(p.stage.secretPrefix).map((g) => g.stored(p.client)));
    const before = await writeCounters(p.client);
    p.standIn.resetCalls();
    const r = await p.migrator('seed', ...seedArgs);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('nothing changed');
    const after = await writeCounters(p.client);
    for (const t of tables()) expect(after[t], t).toBe(before[t]);
    expect(encrypts()).toBe(0);
    expect(p.standIn.callCount('secretsmanager.CreateSecret') + p.standIn.callCount('secretsmanager.PutSecretValue')).toBe(0);
    expect(await Promise.all(fx.generated(p.stage.secretPrefix).map((g) => g.stored(p.client)))).toEqual(hashes);
    const runs = JSON.parse((await p.migrator('runs', '--json', '--limit', '1')).stdout);
    expect(runs[0].seedSummary).toMatchObject({ rowsWritten: 0, counts: fx.counts });
  });

  it(`a new version of one secret re-encrypts only that tenant's value`, async () => {
    const name = fx.bump.secret(p.stage.name);
    const next = `fake-rotated-NOT-REAL-${Date.now().toString(36)}-${fx.name}`;
    p.providerValues.push(...(await putSecrets(p.sm, { [name]: { ...fx.providerSecrets(p.stage.name)[name], [fx.bump.field]: next } })));
    const before = await fx.ciphertexts(p.client);
    p.standIn.resetCalls();
    const r = await p.migrator('seed', ...seedArgs, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(encrypts()).toBe(1);
    await expectOnlyBumpedReencrypted(p.kms, fx, before, await fx.ciphertexts(p.client), next);
  });

  it(`another tenant's encryption context cannot decrypt a tenant's value`, async () => {
    await expectContextsBound(p.client, p.kms, fx, p.providerValues);
  });

  it('reseed --reset of one tenant recreates its seeded rows only; a protected stage refuses it', async () => {
    const { tenant, childTables } = fx.reset;
    const id = (await p.client.query(`SELECT id::text AS id FROM tenants WHERE slug = $1`, [tenant])).rows[0].id;
    const others = () => rowsOfOtherTenants(p.client, fx, id);
    const before = await others();
    const prod = await p.migrator('reseed', '--seeds-dir', 'seeds', '--stage', 'prod', '--tenant', tenant, '--reset');
    expect(prod.code).toBe(1);
    expect(prod.stderr).toMatch(/Stage "prod" is protected/);

    const r = await p.migrator('reseed', ...seedArgs, '--tenant', tenant, '--reset', '--json');
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.reset).toEqual([tenant]);
    expect(report.counts).toEqual(fx.counts);
    expect((await p.client.query(`SELECT id::text AS id FROM tenants WHERE slug = $1`, [tenant])).rows[0].id).toBe(id);
    for (const t of childTables) expect(report.tables[t].deleted, `${t} rows of ${tenant} deleted`).toBeGreaterThan(0);
    expect(await others()).toEqual(before);
    await rememberGenerated();
  });

  it('a value that does not cast to its column is refused naming file:line, table and column; nothing written (plan and apply)', async () => {
    const { file, from, to, table, column, model } = fx.badCast;
    const path = join(p.dir, 'seeds', file);
    const modelPath = join(p.dir, 'seeds', 'seed.config.yaml');
    const pristine = readFileSync(path, 'utf8');
    const pristineModel = readFileSync(modelPath, 'utf8');
    const broken = pristine.replace(from, to);
    expect(broken).not.toBe(pristine);
    if (model) {
      expect(pristineModel).toContain(model.from);
      writeFileSync(modelPath, pristineModel.replace(model.from, model.to));
    }
    writeFileSync(path, broken);
    try {
      const line = lineOf(broken, to);
      for (const mode of [['--plan'], []]) {
        const before = await fingerprint(p.client);
        const runsBefore = await runCount();
        p.standIn.resetCalls();
        const r = await p.migrator('seed', ...seedArgs, ...mode);
        expect(r.code, `seed ${mode.join(' ')}`).toBe(1);
        // Named by the path the user typed (--seeds-dir seeds).
        expect(r.stderr).toMatch(new RegExp(`(^|[\\s(])seeds/${file.replaceAll('.', '\\.')}:${line}\\b`));
        expect(r.stderr).toContain(table);
        expect(r.stderr).toContain(column);
        expect(r.stderr).not.toContain('    at ');
        expect(encrypts()).toBe(0);
        // Every table as it was; at most the failed run's own row in the run history.
        const after = await fingerprint(p.client);
        expect(withoutRuns(after)).toEqual(withoutRuns(before));
        const added = (await p.client.query(`SELECT outcome FROM ${RUNS} ORDER BY started_at DESC LIMIT $1`, [(await runCount()) - runsBefore])).rows;
        for (const run of added) expect(run.outcome).toBe('failed');
        if (mode.length) expect(added).toHaveLength(0);
      }
    } finally {
      writeFileSync(path, pristine);
      writeFileSync(modelPath, pristineModel);
    }
  });

  it('a provider secret that does not exist is refused naming the file, the field, the tenant and the secret; nothing written', async () => {
    const { file, from, to, path, tenant } = fx.missingSecret;
    const dataPath = join(p.dir, 'seeds', file);
    const pristine = readFileSync(dataPath, 'utf8');
    expect(pristine).toContain(from);
    writeFileSync(dataPath, pristine.replace(from, to));
    try {
      const before = await fingerprint(p.client);
      p.standIn.resetCalls();
      const r = await p.migrator('seed', ...seedArgs);
      expect(r.code, r.stdout).toBe(1);
      for (const m of [`seeds/${file}`, path, `"${tenant}"`, `migrator/local/${to}`]) expect(r.stderr).toContain(m);
      expect(r.stderr).not.toContain('    at ');
      expect(encrypts()).toBe(0);
      expect(withoutRuns(await fingerprint(p.client))).toEqual(withoutRuns(before));
    } finally {
      writeFileSync(dataPath, pristine);
    }
  });

  it('no plaintext (provider values, generated keys) anywhere in the database or in what the CLI printed', async () => {
    await rememberGenerated();
    const needles = [...p.providerValues, ...generated];
    expect(needles.length).toBeGreaterThanOrEqual(fx.encryptsFirstRun + fx.generated(p.stage.secretPrefix).length);
    expect(await plaintextHits(p.client, needles)).toEqual([]);
    const printed = p.output.join('\n');
    expect(printed.length).toBeGreaterThan(1000);
    for (const n of needles) expect(printed.includes(n), `${n.slice(0, 12)}... printed`).toBe(false);
    // The untouched application tables are still empty.
    for (const t of fx.untouched) expect((await p.client.query(`SELECT count(*)::int AS n FROM "${t}"`)).rows[0].n, t).toBe(0);
  });
});
