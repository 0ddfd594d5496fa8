/**
 * The construct reads the seed model of its seedsDir at synth: the kms:EncryptionContextKeys condition
 * is the union of the context keys the seeder will send (a model's providerSecret `context:` and secret
 * leaves), and the encryptionContextKeys prop still overrides it.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as rds from 'aws-cdk-lib/aws-rds';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { DatabaseMigrations } from '../../infra/database-migrations.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function encryptCondition(seedsDir: string, override?: string[]): string[] {
  const outdir = mkdtempSync(join(tmpdir(), 'migrator-ctx-'));
  dirs.push(outdir);
  const app = new App({ outdir });
  const stack = new Stack(app, 'Ctx');
  const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 0, subnetConfiguration: [{ name: 'iso', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
  vpc.addInterfaceEndpoint('SecretsManager', { service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER });
  vpc.addInterfaceEndpoint('Kms', { service: ec2.InterfaceVpcEndpointAwsService.KMS });
  const db = new rds.DatabaseInstance(stack, 'Db', {
    engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17_6 }),
    vpc,
    vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
  });
  new DatabaseMigrations(stack, 'Migrations', {
    database: db,
    databaseSecret: db.secret!,
    vpc,
    migrationsDir: join(root, 'migrations'),
    seedsDir,
    stage: 'staging',
    encryptionKey: new kms.Key(stack, 'StageKey'),
    ...(override ? { encryptionContextKeys: override } : {}),
  });
  const policies = Template.fromStack(stack).findResources('AWS::IAM::Policy');
  const statements = Object.values(policies).flatMap((p: any) => p.Properties.PolicyDocument.Statement);
  const encrypt = statements.filter((s: any) => s.Sid === 'EncryptTenantSecretsWithStageKey');
  expect(encrypt.length).toBeGreaterThan(0);
  return encrypt[0].Condition['ForAllValues:StringEquals']['kms:EncryptionContextKeys'];
}

describe('kms:EncryptionContextKeys follows the seed model', () => {
  it("this package's model: tenant and purpose; a model's own context keys; the prop overrides", () => {
    expect(encryptCondition(join(root, 'seeds'))).toEqual(['tenant', 'purpose']);
    const dir = mkdtempSync(join(tmpdir(), 'seeds-ctx-'));
    dirs.push(dir);
    cpSync(join(root, 'seeds'), dir, { recursive: true });
    const m = parse(readFileSync(join(dir, 'seed.config.yaml'), 'utf8'));
    m.tenant.children.llm.fields.apiKeySecret.providerSecret.context = { tenant: '{tenant.id}', tenantSlug: '{tenant.slug}', purpose: '{row.purpose}' };
    writeFileSync(join(dir, 'seed.config.yaml'), stringify(m));
    expect(encryptCondition(dir)).toEqual(['tenant', 'tenantSlug', 'purpose']);
    expect(encryptCondition(dir, ['tenant', 'purpose', 'tenantSlug', 'extra'])).toEqual(['tenant', 'purpose', 'tenantSlug', 'extra']);
  });
});
