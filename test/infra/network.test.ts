/**
 * The construct in someone else's network: subnet defaults that work on the VPCs CDK users have, a synth
 * error naming the endpoint a function in isolated subnets would wait for, and no seed permission without
 * seeds. Bundling is skipped (`aws:cdk:bundling-stacks: []`): these are template checks.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as rds from 'aws-cdk-lib/aws-rds';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DatabaseMigrations, type DatabaseMigrationsProps } from '../../infra/database-migrations.ts';

const migrationsDir = fileURLToPath(new URL('./fixtures/reporting-migrations', import.meta.url));
const seedsDir = fileURLToPath(new URL('../../seeds', import.meta.url));
const ISOLATED = [{ name: 'iso', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }];

function build(vpcProps: ec2.VpcProps | ((s: Stack) => ec2.IVpc), over: Partial<DatabaseMigrationsProps> = {}, extra?: (vpc: ec2.IVpc) => void) {
  const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Net');
  const vpc = typeof vpcProps === 'function' ? vpcProps(stack) : new ec2.Vpc(stack, 'Vpc', vpcProps);
  const db = new rds.DatabaseInstance(stack, 'Db', {
    engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17_6 }),
    vpc,
    vpcSubnets: { subnets: vpc.isolatedSubnets.length ? vpc.isolatedSubnets : vpc.privateSubnets },
    storageEncrypted: true,
  });
  const m = new DatabaseMigrations(stack, 'Migrations', { database: db, databaseSecret: db.secret!, vpc, migrationsDir, stage: 'staging', ...over });
  extra?.(vpc);
  return { stack, vpc, m, synth: () => Template.fromStack(stack) };
}

const subnetsOf = (t: Template) =>
  Object.values(t.findResources('AWS::Lambda::Function', { Properties: { Handler: Match.stringLikeRegexp('^index\\.(onEvent|operations)$') } })).map(
    (f: any) => f.Properties.VpcConfig.SubnetIds.map((s: any) => s.Ref).sort(),
  );
const idsOf = (stack: Stack, subnets: ec2.ISubnet[]) => subnets.map((s) => stack.getLogicalId(s.node.defaultChild as ec2.CfnSubnet)).sort();

function migratorStatements(t: Template): any[] {
  const fns = Object.values(t.findResources('AWS::Lambda::Function', { Properties: { Handler: Match.stringLikeRegexp('^index\\.(onEvent|operations)$') } }));
  const roles = new Set(fns.map((f: any) => f.Properties.Role['Fn::GetAtt'][0]));
  return Object.values(t.findResources('AWS::IAM::Policy'))
    .filter((p: any) => p.Properties.Roles.some((r: any) => roles.has(r.Ref)))
    .flatMap((p: any) => p.Properties.PolicyDocument.Statement);
}
const actions = (statements: any[]) => [...new Set(statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])))].sort();

describe('subnets', () => {
  it('synthesizes on a default `new ec2.Vpc()`: private subnets with egress, no endpoint needed', () => {
    const { stack, vpc, synth } = build({});
    const t = synth();
    expect(subnetsOf(t)).toEqual([idsOf(stack, vpc.privateSubnets), idsOf(stack, vpc.privateSubnets)]);
    Annotations.fromStack(stack).hasNoWarning('*', Match.anyValue());
  });

  it('prefers isolated subnets when the VPC has them', () => {
    const { stack, vpc, synth } = build(
      { subnetConfiguration: [{ name: 'pub', subnetType: ec2.SubnetType.PUBLIC }, { name: 'app', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }, ...ISOLATED] },
      {},
      (v) => v.addInterfaceEndpoint('SecretsManager', { service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER }),
    );
    expect(subnetsOf(synth())[0]).toEqual(idsOf(stack, vpc.isolatedSubnets));
  });

  it('a VPC with public subnets only fails the synth naming vpcSubnets', () => {
    expect(() => build({ subnetConfiguration: [{ name: 'pub', subnetType: ec2.SubnetType.PUBLIC }] })).toThrow(
      /Net\/Migrations: vpc Net\/Vpc has no isolated and no private subnets; set vpcSubnets/,
    );
  });
});

describe('endpoints in isolated subnets', () => {
  const isolatedOnly = { natGateways: 0, subnetConfiguration: ISOLATED };

  it('a missing Secrets Manager endpoint fails the synth, naming it and the prop', () => {
    const { synth } = build(isolatedOnly);
    expect(synth).toThrow(/Net\/Migrations: the migrator runs in isolated subnets of Net\/Vpc, which has no interface endpoint for Secrets Manager \(needed to read the database secret\)/);
    expect(synth).toThrow(/endpoints: 'create'/);
  });

  it('with seeds, a missing KMS endpoint fails the synth too', () => {
    const key = (s: Stack) => new kms.Key(s, 'Key');
    const { synth } = build(isolatedOnly, { seedsDir }, (vpc) => {
      vpc.addInterfaceEndpoint('SecretsManager', { service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER });
      key(Stack.of(vpc));
    });
    expect(synth).toThrow(/no interface endpoint for KMS \(needed to encrypt tenant keys\)/);
  });

  it('endpoints added to the VPC (even after the construct) satisfy the check', () => {
    const { synth } = build(isolatedOnly, { seedsDir }, (vpc) => {
      vpc.addInterfaceEndpoint('SecretsManager', { service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER });
      vpc.addInterfaceEndpoint('Kms', { service: ec2.InterfaceVpcEndpointAwsService.KMS });
    });
    expect(() => synth()).not.toThrow();
  });

  it("endpoints: 'create' adds exactly the missing ones; 'none' skips the check", () => {
    const created = build(isolatedOnly, { seedsDir, endpoints: 'create' }, undefined);
    const names = Object.values(created.synth().findResources('AWS::EC2::VPCEndpoint')).map((e: any) => JSON.stringify(e.Properties.ServiceName));
    expect(names).toHaveLength(2);
    expect(names.some((n) => n.includes('.secretsmanager'))).toBe(true);
    expect(names.some((n) => n.includes('.kms'))).toBe(true);
    // A VPC that has the Secrets Manager endpoint already gets only the KMS one (two private DNS names would clash).
    const partial = build((s) => {
      const v = new ec2.Vpc(s, 'Vpc', isolatedOnly);
      v.addInterfaceEndpoint('SecretsManager', { service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER });
      return v;
    }, { seedsDir, endpoints: 'create' });
    const all = Object.entries(partial.synth().findResources('AWS::EC2::VPCEndpoint'));
    expect(all).toHaveLength(2);
    const mine = all.filter(([id]) => id.startsWith('Migrations')).map(([, e]: [string, any]) => JSON.stringify(e.Properties.ServiceName));
    expect(mine).toHaveLength(1);
    expect(mine[0]).toContain('.kms');
    expect(() => build(isolatedOnly, { endpoints: 'none' }).synth()).not.toThrow();
  });

  it('an imported VPC cannot be inspected: a warning names the endpoints', () => {
    const { stack, synth } = build((s) =>
      ec2.Vpc.fromVpcAttributes(s, 'Vpc', { vpcId: 'vpc-1234', availabilityZones: ['a', 'b'], isolatedSubnetIds: ['subnet-1', 'subnet-2'] }),
    );
    synth();
    Annotations.fromStack(stack).hasWarning('/Net/Migrations', Match.stringLikeRegexp('imported VPC.*Secrets Manager'));
  });
});

describe('grants', () => {
  it('without seedsDir: the database secret and nothing else (no secret writes, no provider reads, no KMS, no ListSecrets)', () => {
    const t = build({}).synth();
    // Plus, on the deploy function only, DescribeStacks on its own stack (the rollback check needs no database).
    const all = migratorStatements(t);
    const own = all.filter((s: any) => JSON.stringify(s.Action) === '"cloudformation:DescribeStacks"');
    for (const s of own) expect(s.Resource).toEqual({ Ref: 'AWS::StackId' });
    const statements = all.filter((s: any) => !own.includes(s));
    expect(actions(statements)).toEqual(['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue']);
    for (const s of statements) expect(JSON.stringify(s.Resource)).toMatch(/DbSecret/);
  });

  it('with seedsDir: the seed permissions', () => {
    const t = build({}, { seedsDir, encryptionKey: undefined }).synth();
    expect(actions(migratorStatements(t))).toEqual(expect.arrayContaining(['secretsmanager:CreateSecret', 'secretsmanager:PutSecretValue']));
  });
});
