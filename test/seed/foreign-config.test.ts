/**
 * Bad seed models (seed.config.yaml) on the two foreign fixtures, through the real launcher on a database
 * the fixture already seeded: each kind is refused with exit 1, one message naming the file and line and
 * what is wrong, and nothing written (every table's fingerprint as it was; at most the failed run's own row
 * in the run history). Each kind is one row of the list below, with the edit that breaks each fixture.
 */
import { cpSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fingerprint } from './helpers.ts';
import { FIXTURES, lineOf } from './foreign/fixtures.ts';
import { KINDS, placeOf } from './foreign/bad-models.ts';
import { fixtureProject, type FixtureProject } from './foreign/cli.ts';

const RUNS = 'public.migration_runs';
const withoutRuns = (f: Record<string, unknown>) => Object.fromEntries(Object.entries(f).filter(([t]) => t !== RUNS));

describe.each(FIXTURES)('$name fixture: bad seed models are refused, nothing written', (fx) => {
  let p: FixtureProject;
  let seeds: string;
  let pristine: string;
  beforeAll(async () => {
    p = await fixtureProject(fx);
    seeds = join(p.dir, 'seeds');
    pristine = `${p.dir}-pristine-seeds`;
    cpSync(seeds, pristine, { recursive: true });
    expect((await p.migrator('up')).code).toBe(0);
    // Refusals are checked against seeded data: a refused run must leave it exactly as it is.
    const first = await p.migrator('seed', '--seeds-dir', 'seeds', '--stage', 'local');
    expect(first.stderr).not.toMatch(/error/i);
    expect(first.code).toBe(0);
  });
  afterAll(async () => {
    rmSync(pristine, { recursive: true, force: true });
    await p?.close();
  });
  beforeEach(() => {
    rmSync(seeds, { recursive: true, force: true });
    cpSync(pristine, seeds, { recursive: true });
  });

  it('the list names ten kinds of bad model, plus an undeclared data file field', () => {
    expect(new Set(KINDS.map((k) => k.kind)).size).toBe(11);
  });

  it.each(KINDS)('$kind', async ({ break: breakers }) => {
    const broken = breakers[fx.name](seeds);
    const text = readFileSync(join(seeds, broken.file), 'utf8');
    const before = await fingerprint(p.client);
    const runsBefore = (await p.client.query(`SELECT count(*)::int AS n FROM ${RUNS}`)).rows[0].n;
    p.standIn.resetCalls();
    const r = await p.migrator('seed', '--seeds-dir', 'seeds', '--stage', 'local');
    expect(r.code, r.stdout + r.stderr).toBe(1);
    // Named by the path the user typed (--seeds-dir seeds).
    expect(r.stderr).toMatch(placeOf(broken, text, 'seeds/'));
    for (const m of broken.mentions) {
      if (typeof m === 'string') expect(r.stderr).toContain(m);
      else expect(r.stderr).toMatch(m);
    }
    expect(r.stderr).not.toContain('    at ');
    expect(r.stderr.length).toBeLessThan(4096);
    expect(p.standIn.callCount('TrentService.Encrypt')).toBe(0);
    expect(withoutRuns(await fingerprint(p.client))).toEqual(withoutRuns(before));
    const added = (await p.client.query(`SELECT outcome FROM ${RUNS} ORDER BY started_at DESC LIMIT $1`, [(await p.client.query(`SELECT count(*)::int AS n FROM ${RUNS}`)).rows[0].n - runsBefore])).rows;
    for (const run of added) expect(run.outcome).toBe('failed');
  });
});
