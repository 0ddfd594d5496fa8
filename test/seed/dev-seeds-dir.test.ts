/**
 * `migrator dev --seeds-dir DIR` through the real launcher: any seeds folder (here a 0.2 folder without
 * seed.config.yaml, so the built-in model with its one-line notice), and errors name its files by the
 * path the user typed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { run, ROOT } from '../cli/helpers.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { startAwsStandIn, bootstrapDev, type AwsStandIn } from '../../local/aws-standin/index.ts';
import { SEEDS } from './helpers.ts';

describe('migrator dev --seeds-dir', () => {
  let db: TestDatabase;
  let standIn: AwsStandIn;
  let folder: string;
  beforeAll(async () => {
    db = await createTestDatabase('devdir');
    standIn = await startAwsStandIn();
    await bootstrapDev(standIn);
    folder = mkdtempSync(join(ROOT, '.tmp-dev-seeds-'));
    cpSync(SEEDS, join(folder, 'my-seeds'), { recursive: true, filter: (s) => !s.endsWith('seed.config.yaml') });
  });
  afterAll(async () => {
    await standIn.stop();
    await db.drop();
    rmSync(folder, { recursive: true, force: true });
  });

  it('seeds from the given folder, and names a broken file by the path given', async () => {
    const given = `${basename(folder)}/my-seeds`;
    const env = { ...standIn.clientEnv(), DATABASE_URL: db.url };
    const ok = await run(['dev', '--seeds-dir', given, '--json'], env);
    expect({ code: ok.code, stderr: ok.code ? ok.stderr : '' }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(ok.stdout).seed.counts.tenants).toBe(5);
    const c = await db.client();
    expect((await c.query(`SELECT count(*)::int AS n FROM tenants`)).rows[0].n).toBe(5);

    writeFileSync(join(folder, 'my-seeds/tenants/vela.yaml'), 'slug: vela\nname: Vela\nregion: [1]\n');
    const bad = await run(['dev', '--seeds-dir', given], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain(`${given}/tenants/vela.yaml:3 region`);
    expect(bad.stderr).toContain(`${given}/seed.config.yaml not found: using the built-in seed model`);
  }, 120_000);
});
