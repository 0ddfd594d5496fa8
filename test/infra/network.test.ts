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
      (v) => {
        v.addInterfaceEndpoint('SecretsManager', { service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER });
        v.addInterfaceEndpoint('CloudFormation', { service: ec2.InterfaceVpcEndpointAwsService.CLOUDFORMATION });
      },
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

  it('missing Secrets Manager and CloudFormation endpoints fail the synth, naming them and the prop', () => {
    const { synth } = build(isolatedOnly);
    expect(synth).toThrow(
      /Net\/Migrations: the migrator runs in isolated subnets of Net\/Vpc, which has no interface endpoint for Secrets Manager or CloudFormation \(needed to read the database secret and recognise a rollback Update from the stack status, without the database\); the first deploy would time out/,
    );
    expect(synth).toThrow(/ec2\.InterfaceVpcEndpointAwsService\.CLOUDFORMATION/);
    expect(synth).toThrow(/endpoints: 'create'/);
  });

  it('with seeds, a missing KMS endpoint fails the synth too', () => {
    const key = (s: Stack) => new kms.Key(s, 'Key');
    const { synth } = build(isolatedOnly, { seedsDir }, (vpc) => {
      vpc.addInterfaceEndpoint('SecretsManager', { service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER });
      vpc.addInterfaceEndpoint('CloudFormation', { service: ec2.InterfaceVpcEndpointAwsService.CLOUDFORMATION });
      key(Stack.of(vpc));
    });
    expect(synth).toThrow(/no interface endpoint for KMS \(needed to encrypt tenant keys\)/);
  });

  it('endpoints added to the VPC (even after the construct) satisfy the check', () => {
    const { synth } = build(isolatedOnly, { seedsDir }, (vpc) => {
      vpc.addInterfaceEndpoint('SecretsManager', { service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER });
      vpc.addInterfaceEndpoint('Kms', { service: ec2.InterfaceVpcEndpointAwsService.KMS });
      vpc.addInterfaceEndpoint('CloudFormation', { service: ec2.InterfaceVpcEndpointAwsService.CLOUDFORMATION });
    });
    expect(() => synth()).not.toThrow();
  });

  it('a missing CloudFormation endpoint fails the synth (a rollback during a database outage would strand the stack)', () => {
    const without = build(isolatedOnly, {}, (vpc) => vpc.addInterfaceEndpoint('SecretsManager', { service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER }));
    expect(without.synth).toThrow(
      /no interface endpoint for CloudFormation \(needed to recognise a rollback Update from the stack status, without the database\); a rollback while the database is unreachable would fail and leave the stack in UPDATE_ROLLBACK_FAILED\. Add vpc\.addInterfaceEndpoint\('CloudFormation', \{ service: ec2\.InterfaceVpcEndpointAwsService\.CLOUDFORMATION \}\)/,
    );
    const withIt = build(isolatedOnly, {}, (vpc) => {
      vpc.addInterfaceEndpoint('SecretsManager', { service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER });
      vpc.addInterfaceEndpoint('CloudFormation', { service: ec2.InterfaceVpcEndpointAwsService.CLOUDFORMATION });
    });
    const t = withIt.synth();
    Annotations.fromStack(withIt.stack).hasNoWarning('/Net/Migrations', Match.anyValue());
    Annotations.fromStack(withIt.stack).hasNoError('/Net/Migrations', Match.anyValue());
    // The template: the function's VPC has the endpoint it calls DescribeStacks through, in the function's subnets.
    const cfn = Object.values(t.findResources('AWS::EC2::VPCEndpoint')).filter((e: any) => JSON.stringify(e.Properties.ServiceName).includes('.cloudformation'));
    expect(cfn).toHaveLength(1);
    expect(cfn[0]).toMatchObject({ Properties: { VpcEndpointType: 'Interface', PrivateDnsEnabled: true } });
  });

  it('a NAT instead of endpoints: subnets with egress need no CloudFormation endpoint', () => {
    const { stack, synth } = build({ subnetConfiguration: [{ name: 'pub', subnetType: ec2.SubnetType.PUBLIC }, { name: 'app', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }] });
    expect(() => synth()).not.toThrow();
    Annotations.fromStack(stack).hasNoWarning('*', Match.anyValue());
  });

  it("endpoints: 'create' adds exactly the missing ones; 'none' skips the check", () => {
    const created = build(isolatedOnly, { seedsDir, endpoints: 'create' }, undefined);
    const names = Object.values(created.synth().findResources('AWS::EC2::VPCEndpoint')).map((e: any) => JSON.stringify(e.Properties.ServiceName));
    expect(names).toHaveLength(3);
    expect(names.some((n) => n.includes('.secretsmanager'))).toBe(true);
    expect(names.some((n) => n.includes('.kms'))).toBe(true);
    expect(names.some((n) => n.includes('.cloudformation'))).toBe(true);
    // A VPC that has the Secrets Manager endpoint already gets only the KMS one (two private DNS names would clash).
    const partial = build((s) => {
      const v = new ec2.Vpc(s, 'Vpc', isolatedOnly);
      v.addInterfaceEndpoint('SecretsManager', { service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER });
      return v;
    }, { seedsDir, endpoints: 'create' });
    const all = Object.entries(partial.synth().findResources('AWS::EC2::VPCEndpoint'));
    expect(all).toHaveLength(3);
    const mine = all.filter(([id]) => id.startsWith('Migrations')).map(([, e]: [string, any]) => JSON.stringify(e.Properties.ServiceName));
    expect(mine).toHaveLength(2);
    expect(mine.some((n) => n.includes('.kms'))).toBe(true);
    expect(mine.some((n) => n.includes('.cloudformation'))).toBe(true);
    expect(() => build(isolatedOnly, { endpoints: 'none' }).synth()).not.toThrow();
  });

  it('an imported VPC cannot be inspected: a warning names the endpoints', () => {
    const { stack, synth } = build((s) =>
      ec2.Vpc.fromVpcAttributes(s, 'Vpc', { vpcId: 'vpc-1234', availabilityZones: ['a', 'b'], isolatedSubnetIds: ['subnet-1', 'subnet-2'] }),
    );
    synth();
    Annotations.fromStack(stack).hasWarning('/Net/Migrations', Match.stringLikeRegexp('imported VPC.*Secrets Manager and CloudFormation'));
  });
});

describe('grants', () => {
  it('without seedsDir: the database secret (and the stack status) and nothing else (no secret writes, no provider reads, no KMS, no ListSecrets)', () => {
    const t = build({}).synth();
    const statements = migratorStatements(t);
    expect(actions(statements)).toEqual(['cloudformation:DescribeStacks', 'secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue']);
    for (const s of statements) {
      // The database secret, and the stack's own status (the rollback check): nothing else.
      expect(JSON.stringify(s.Resource)).toMatch(s.Action === 'cloudformation:DescribeStacks' ? /AWS::StackId/ : /DbSecret/);
    }
  });

  it('with seedsDir: the seed permissions', () => {
    const t = build({}, { seedsDir, encryptionKey: undefined }).synth();
    expect(actions(migratorStatements(t))).toEqual(expect.arrayContaining(['secretsmanager:CreateSecret', 'secretsmanager:PutSecretValue']));
  });
});
