/**
 * A fixture set up as a user would have it: a project folder (a scratch copy of the fixture's migrations/
 * and seeds/), a fresh database, the KMS / Secrets Manager stand-in with the local stage's key and the
 * provider secrets, and `node bin/migrator.mjs ...` started in that folder, as typed there.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type pg from 'pg';
import { parse } from 'yaml';
import { createTestDatabase, type TestDatabase } from '../../support/db.ts';
import { bootstrapDev, startAwsStandIn, type AwsStandIn } from '../../../local/aws-standin/index.ts';
import { copyFixture, putSecrets, type Fixture } from './fixtures.ts';

export const LAUNCHER = resolve(import.meta.dirname, '../../../bin/migrator.mjs');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface FixtureProject {
  fixture: Fixture;
  /** The project folder (cwd of every command): migrations/ and seeds/. */
  dir: string;
  db: TestDatabase;
  client: pg.Client;
  standIn: AwsStandIn;
  kms: KMSClient;
  sm: SecretsManagerClient;
  /** The local stage of the fixture's stages.yaml. */
  stage: { name: string; kmsKeyId: string; secretPrefix: string };
  keyArn: string;
  /** Provider plaintexts written so far (every version). */
  providerValues: string[];
  /** Everything every command printed. */
  output: string[];
  /** `node bin/migrator.mjs ...args --database-url <db>` in the project folder. */
  migrator(...args: string[]): Promise<CliRun>;
  close(): Promise<void>;
}

export async function fixtureProject(fixture: Fixture): Promise<FixtureProject> {
  const work = mkdtempSync(join(tmpdir(), `fixture-${fixture.name}-`));
  const dir = copyFixture(fixture, work);
  const stages = parse(readFileSync(join(dir, 'seeds', 'stages.yaml'), 'utf8')).stages;
  const stage = { name: 'local', ...stages.local };
  const db = await createTestDatabase('fx');
  const client = await db.client();
  const standIn = await startAwsStandIn();
  const boot = await bootstrapDev(standIn, { aliasName: stage.kmsKeyId, secrets: [] });
  const config = { ...standIn.clientConfig(), credentials: { ...standIn.credentials }, maxAttempts: 2 };
  const kms = new KMSClient(config);
  const sm = new SecretsManagerClient(config);
  const providerValues = await putSecrets(sm, fixture.providerSecrets(stage.name));
  const output: string[] = [];
  const migrator = (...args: string[]) =>
    new Promise<CliRun>((res, rej) => {
      const child = spawn(process.execPath, [LAUNCHER, ...args, '--database-url', db.url], {
        cwd: dir,
        env: { ...process.env, DATABASE_URL: '', MIGRATOR_STAGE: '', ...standIn.clientEnv() },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', rej);
      child.on('close', (code) => {
        output.push(stdout, stderr);
        res({ code: code ?? -1, stdout, stderr });
      });
    });
  return {
    fixture,
    dir,
    db,
    client,
    standIn,
    kms,
    sm,
    stage,
    keyArn: boot.keyArn,
    providerValues,
    output,
    migrator,
    async close() {
      kms.destroy();
      sm.destroy();
      await standIn.stop();
      await db.drop();
      rmSync(work, { recursive: true, force: true });
    },
  };
}
