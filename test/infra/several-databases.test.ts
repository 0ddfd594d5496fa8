/**
 * Several databases in one app (seed 003): an RDS instance and an Aurora cluster, each with its own
 * migrations folder and its own DatabaseMigrations; names, roles, security groups and custom resources
 * stay separate, and an application can wait for both.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as rds from 'aws-cdk-lib/aws-rds';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentHash } from '../../infra/content-hash.ts';
import { apiKeySecretName } from '../../functions/core/seed/api-keys.ts';
import { DatabaseMigrations } from '../../infra/database-migrations.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const reportingDir = fileURLToPath(new URL('./fixtures/reporting-migrations', import.meta.url));
let json: Record<string, any>;
let appFnId: string;
let crIds: string[];
let outdir: string;

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'migrator-multi-'));
  const app = new App({ outdir });
  const stack = new Stack(app, 'Multi');
  const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 0, subnetConfiguration: [{ name: 'iso', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
  // Isolated subnets: the functions reach Secrets Manager and KMS through endpoints (the construct checks).
  vpc.addInterfaceEndpoint('SecretsManager', { service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER });
  vpc.addInterfaceEndpoint('Kms', { service: ec2.InterfaceVpcEndpointAwsService.KMS });
  vpc.addInterfaceEndpoint('CloudFormation', { service: ec2.InterfaceVpcEndpointAwsService.CLOUDFORMATION });
  const main = new rds.DatabaseInstance(stack, 'Main', {
    engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17_6 }),
    vpc,
    vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
  });
  const reporting = new rds.DatabaseCluster(stack, 'Reporting', {
    engine: rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_17_4 }),
    writer: rds.ClusterInstance.serverlessV2('Writer'),
    vpc,
    vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
  });
  const a = new DatabaseMigrations(stack, 'MainMigrations', {
    database: main,
    databaseSecret: main.secret!,
    vpc,
    migrationsDir: join(root, 'migrations'),
    seedsDir: join(root, 'seeds'),
    stage: 'staging',
  });
  const b = new DatabaseMigrations(stack, 'ReportingMigrations', {
    database: reporting,
    databaseSecret: reporting.secret!,
    vpc,
    migrationsDir: reportingDir,
    stage: 'staging',
    runOn: 'content-change',
    // Same stage, same tenant secret prefix: its tenant API-key secrets need their own names.
    secretNamespace: 'reporting',
  });
  const appFn = new lambda.Function(stack, 'App', {
    runtime: lambda.Runtime.NODEJS_24_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => 1;'),
  });
  appFn.node.addDependency(a, b);
  json = Template.fromStack(stack).toJSON();
  appFnId = stack.getLogicalId(appFn.node.defaultChild as lambda.CfnFunction);
  crIds = [a, b].map((m) => stack.getLogicalId(m.resource.node.defaultChild as never));
}, 120_000);
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

const byType = (type: string) => Object.entries(json.Resources as Record<string, any>).filter(([, r]) => r.Type === type);

describe('two DatabaseMigrations in one stack', () => {
  it('creates two custom resources with their own identity, content hash and run mode', () => {
    const crs = byType('Custom::DatabaseMigrations').map(([, r]) => r.Properties);
    expect(crs).toHaveLength(2);
    expect(new Set(crs.map((p) => p.ResourceName)).size).toBe(2);
    expect(crs.map((p) => p.ContentHash).sort()).toEqual([contentHash(join(root, 'migrations'), join(root, 'seeds')).hash, contentHash(reportingDir).hash].sort());
    expect(crs.map((p) => p.RunOn).sort()).toEqual(['content-change', 'every-deploy']);
    expect(crs.find((p) => p.RunOn === 'content-change').SeedFileCount).toBe('0');
  });

  it('gives each its own functions, roles and security group, opened only on its own database', () => {
    const fns = byType('AWS::Lambda::Function').filter(([, r]) => /^index\.(onEvent|operations)$/.test(r.Properties.Handler));
    expect(fns).toHaveLength(4);
    expect(new Set(fns.map(([, r]) => JSON.stringify(r.Properties.Role))).size).toBe(4);
    const ingress = byType('AWS::EC2::SecurityGroupIngress').map(([, r]) => [r.Properties.GroupId['Fn::GetAtt'][0], r.Properties.SourceSecurityGroupId['Fn::GetAtt'][0]]);
    const main = ingress.filter(([g]) => g.startsWith('MainSecurityGroup')).map(([, s]) => s);
    const reporting = ingress.filter(([g]) => g.startsWith('ReportingSecurityGroup')).map(([, s]) => s);
    expect(main).toHaveLength(1);
    expect(reporting).toHaveLength(1);
    expect(main[0]).toMatch(/^MainMigrations/);
    expect(reporting[0]).toMatch(/^ReportingMigrations/);
    // Each pair of functions reads its own database's secret.
    for (const [id, fn] of fns) {
      const secret = fn.Properties.Environment.Variables.DB_SECRET_ARN.Ref as string;
      expect(secret).toMatch(id.startsWith('MainMigrations') ? /MainSecret/ : /ReportingSecret/);
    }
  });

  it('lets the application wait for both', () => {
    for (const id of crIds) expect(json.Resources[appFnId].DependsOn).toContain(id);
  });
});

describe('bad props fail the synth with the construct path and the prop', () => {
  const make = (over: Record<string, unknown>) => {
    const stack = new Stack(new App(), 'Bad');
    const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 0, subnetConfiguration: [{ name: 'iso', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
    const db = new rds.DatabaseInstance(stack, 'Db', {
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17_6 }),
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
    });
    return () =>
      new DatabaseMigrations(stack, 'M', { database: db, databaseSecret: db.secret!, vpc, migrationsDir: reportingDir, stage: 'staging', ...over });
  };

  it.each([
    [{ migrationsDir: '/nonexistent/migrations' }, /Bad\/M: migrationsDir \/nonexistent\/migrations does not exist/],
    [{ seedsDir: '/nonexistent/seeds' }, /seedsDir .* does not exist/],
    [{ stage: 'Prod Env' }, /stage "Prod Env" must be lowercase/],
    [{ timeouts: { function: Duration.minutes(20) } }, /timeouts.function is 1200 s/],
    [{ timeouts: { statement: Duration.minutes(14) } }, /timeouts.statement \(840 s\) must be shorter/],
    [{ tenantSecretPrefix: 'migrator/*' }, /tenantSecretPrefix "migrator\/\*" must end with "\/"/],
    [{ runOn: 'sometimes' }, /runOn "sometimes"/],
    [{ secretNamespace: 'Reporting/x' }, /secretNamespace "Reporting\/x" must be lowercase/],
  ])('%o', (over, message) => {
    expect(make(over)).toThrow(message);
  });
});

describe('tenant API-key secret names', () => {
  const two = (second: Record<string, unknown>) => {
    const stack = new Stack(new App(), 'Two');
    const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 0, subnetConfiguration: [{ name: 'iso', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
    const db = (id: string) =>
      new rds.DatabaseInstance(stack, id, {
        engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17_6 }),
        vpc,
        vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      });
    const d1 = db('Db1');
    const d2 = db('Db2');
    const first = new DatabaseMigrations(stack, 'First', { database: d1, databaseSecret: d1.secret!, vpc, migrationsDir: reportingDir, stage: 'staging' });
    return { first, make: () => new DatabaseMigrations(stack, 'Second', { database: d2, databaseSecret: d2.secret!, vpc, migrationsDir: reportingDir, stage: 'staging', ...second }) };
  };

  it('two constructs that would share names fail the synth, naming both', () => {
    expect(two({}).make).toThrow(/Two\/Second: its tenant API-key secrets would have the same names as those of Two\/First \(migrator\/staging\/tenants\/<slug>\/api-key\).*secretNamespace/);
    expect(two({ secretNamespace: 'x' }).make).not.toThrow();
    expect(two({ tenantSecretPrefix: 'migrator/staging/reporting-tenants/' }).make).not.toThrow();
  });

  it('the first construct keeps the names of a single-construct deployment; a namespaced one gets its own', () => {
    const { first, make } = two({ secretNamespace: 'reporting' });
    const second = make();
    const envOf = (m: DatabaseMigrations) => (Stack.of(m).resolve((m.migratorFunction.node.defaultChild as lambda.CfnFunction).environment) as any).variables;
    expect(envOf(first).TENANT_SECRET_NAMESPACE).toBeUndefined();
    expect(envOf(second).TENANT_SECRET_NAMESPACE).toBe('reporting');
    expect(apiKeySecretName('migrator/staging', 'etms')).toBe('migrator/staging/tenants/etms/api-key');
    expect(apiKeySecretName('migrator/staging', 'etms', 'reporting')).toBe('migrator/staging/tenants/reporting/etms/api-key');
  });
});

describe('content hash', () => {
  it('covers what ships and ignores documentation and dot files', async () => {
    const { mkdirSync, writeFileSync } = await import('node:fs');
    const dir = mkdtempSync(join(tmpdir(), 'migrator-hash-'));
    try {
      mkdirSync(join(dir, 'm'));
      writeFileSync(join(dir, 'm', '0001_a.sql'), '-- Up Migration\nSELECT 1;\n');
      const base = contentHash(join(dir, 'm')).hash;
      writeFileSync(join(dir, 'm', 'README.md'), '# notes');
      mkdirSync(join(dir, 'm', '.compiled'));
      writeFileSync(join(dir, 'm', '.compiled', '0001_a.mjs'), 'export {}');
      expect(contentHash(join(dir, 'm')).hash).toBe(base);
      writeFileSync(join(dir, 'm', '0001_a.sql'), '-- Up Migration\nSELECT 2;\n');
      expect(contentHash(join(dir, 'm')).hash).not.toBe(base);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
