/**
 * What a deployed migrator function finds around it, locally: a PostgreSQL database reached with an
 * RDS-shaped secret in the KMS / Secrets Manager stand-in (login role with a canary password), the stage key
 * under the alias seeds/stages.yaml names, and fake provider secrets the seeds reference.
 * TLS is off (DB_TLS=off): the local PostgreSQL serves plain TCP.
 */
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { bootstrapDev, startAwsStandIn, type AwsStandIn } from '../../../local/aws-standin/index.ts';
import { createTestDatabase, serverUrl, type TestDatabase } from '../../support/db.ts';
import type { MigratorAsset } from './asset.ts';
import { startLocalCloudFormation, type LocalCloudFormation } from './cloudformation.ts';
import { SIM_STACK_ID } from './lambda.ts';

export interface SimEnv {
  db: TestDatabase;
  client: pg.Client;
  standIn: AwsStandIn;
  secretArn: string;
  keyArn: string;
  role: string;
  password: string;
  providerKeys: Record<string, string>;
  /** The stack status the function reads (DescribeStacks); the sim stack starts as UPDATE_IN_PROGRESS. */
  cloudFormation: LocalCloudFormation;
  /** The function's synthesized environment with deploy-time tokens replaced by local values. */
  lambdaEnv(asset: MigratorAsset, overrides?: Record<string, string>): Record<string, string>;
  /** Writes a new version of the database secret (as a rotation would), with the given password. */
  rotatePassword(password: string): Promise<void>;
  /** Writes an arbitrary SecretString to the database secret. */
  putSecret(text: string): Promise<void>;
  close(): Promise<void>;
}

export async function setupSimEnv(stage = 'staging'): Promise<SimEnv> {
  const db = await createTestDatabase('sim');
  const client = await db.client();
  const role = `sim_admin_${randomBytes(4).toString('hex')}`;
  const password = `canary-db-password-${randomBytes(6).toString('hex')}`;
  // Cluster-global and uniquely named; dropped by close().
  await client.query(`CREATE ROLE ${role} LOGIN SUPERUSER PASSWORD '${password}'`);
  const standIn = await startAwsStandIn();
  const cloudFormation = await startLocalCloudFormation();
  cloudFormation.setStatus(SIM_STACK_ID, 'UPDATE_IN_PROGRESS');
  const providerKeys = {
    google: `fake-sim-google-key-NOT-REAL-${randomBytes(3).toString('hex')}`,
    openrouter: `fake-sim-openrouter-key-NOT-REAL-${randomBytes(3).toString('hex')}`,
  };
  const boot = await bootstrapDev(standIn, {
    aliasName: `alias/migrator-${stage}`,
    secrets: Object.entries(providerKeys).map(([p, apiKey]) => ({ name: `migrator/${stage}/llm/${p}`, value: JSON.stringify({ apiKey }) })),
  });
  const url = new URL(db.url);
  const shape = (pw: string) =>
    JSON.stringify({ engine: 'postgres', host: url.hostname, port: Number(url.port || 5432), username: role, password: pw, dbname: db.name });
  const sm = new SecretsManagerClient(standIn.clientConfig());
  const created = await sm.send(new CreateSecretCommand({ Name: `migrator/${stage}/db/admin`, SecretString: shape(password) }));
  const secretArn = created.ARN!;
  return {
    db,
    client,
    standIn,
    secretArn,
    keyArn: boot.keyArn,
    role,
    password,
    providerKeys,
    cloudFormation,
    lambdaEnv(asset, overrides = {}) {
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(asset.environment)) if (typeof v === 'string') env[k] = v;
      delete env.NODE_EXTRA_CA_CERTS; // read by Node at start-up only; this process is already running
      return { ...env, DB_SECRET_ARN: secretArn, KMS_KEY_ARN: boot.keyArn, DB_TLS: 'off', ...standIn.clientEnv(), AWS_ENDPOINT_URL_CLOUDFORMATION: cloudFormation.endpoint, ...overrides };
    },
    async rotatePassword(newPassword) {
      await client.query(`ALTER ROLE ${role} PASSWORD '${newPassword}'`);
      await sm.send(new PutSecretValueCommand({ SecretId: secretArn, SecretString: shape(newPassword) }));
    },
    async putSecret(text) {
      await sm.send(new PutSecretValueCommand({ SecretId: secretArn, SecretString: text }));
    },
    async close() {
      sm.destroy();
      await db.drop();
      const admin = new pg.Client({ connectionString: serverUrl() });
      await admin.connect();
      await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
      await admin.end();
      await standIn.stop();
      await cloudFormation.stop();
    },
  };
}

/** Captures everything written to stdout/stderr (Powertools JSON logs, EMF) until restored. */
export function captureOutput(): { lines(): string[]; text(): string; restore(): void } {
  const chunks: string[] = [];
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const grab = (chunk: unknown) => (chunks.push(String(chunk)), true);
  process.stdout.write = grab as typeof process.stdout.write;
  process.stderr.write = grab as typeof process.stderr.write;
  return {
    lines: () => chunks.join('').split('\n').filter(Boolean),
    text: () => chunks.join(''),
    restore() {
      process.stdout.write = out;
      process.stderr.write = err;
    },
  };
}
