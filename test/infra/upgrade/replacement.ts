/**
 * What decides whether CloudFormation keeps or replaces a resource on an update: its logical id, its type,
 * and the properties whose change requires replacement (CloudFormation's "Update requires: Replacement").
 * Asset hashes, the deploy nonce, environment variables and policies are deliberately left out: they
 * change in place.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { buildApp } from '../../../infra/sample-app.ts';

/** Properties whose change replaces the resource, per type (from the CloudFormation resource reference). */
export const REPLACING_PROPERTIES: Record<string, string[]> = {
  'AWS::EC2::VPC': ['CidrBlock'],
  'AWS::EC2::Subnet': ['AvailabilityZone', 'CidrBlock', 'VpcId'],
  'AWS::EC2::RouteTable': ['VpcId'],
  'AWS::EC2::SubnetRouteTableAssociation': ['RouteTableId', 'SubnetId'],
  'AWS::EC2::SecurityGroup': ['GroupDescription', 'GroupName', 'VpcId'],
  'AWS::EC2::SecurityGroupIngress': ['GroupId', 'IpProtocol', 'FromPort', 'ToPort', 'SourceSecurityGroupId', 'CidrIp'],
  'AWS::EC2::SecurityGroupEgress': ['GroupId', 'IpProtocol', 'FromPort', 'ToPort', 'DestinationSecurityGroupId', 'CidrIp'],
  'AWS::EC2::VPCEndpoint': ['ServiceName', 'VpcId', 'VpcEndpointType'],
  'AWS::EC2::FlowLog': ['ResourceId', 'ResourceType', 'TrafficType', 'LogGroupName', 'LogDestinationType'],
  'AWS::Lambda::Function': ['FunctionName', 'PackageType'],
  'AWS::Lambda::Permission': ['Action', 'FunctionName', 'Principal', 'SourceArn', 'SourceAccount'],
  'AWS::Logs::LogGroup': ['LogGroupName'],
  'AWS::Logs::QueryDefinition': [],
  'AWS::IAM::Role': ['RoleName', 'Path'],
  'AWS::KMS::Key': ['KeySpec', 'KeyUsage', 'MultiRegion'],
  'AWS::KMS::Alias': ['AliasName'],
  'AWS::RDS::DBInstance': ['DBInstanceIdentifier', 'DBName', 'Engine', 'StorageEncrypted', 'KmsKeyId', 'MasterUsername', 'DBSubnetGroupName'],
  'AWS::RDS::DBSubnetGroup': ['DBSubnetGroupName'],
  'AWS::RDS::DBParameterGroup': ['Family', 'DBParameterGroupName'],
  'AWS::SecretsManager::Secret': ['Name'],
  'AWS::SecretsManager::SecretTargetAttachment': ['SecretId'],
  'AWS::SNS::Topic': ['TopicName', 'FifoTopic'],
  'AWS::CloudWatch::Alarm': ['AlarmName'],
  'AWS::CloudWatch::Dashboard': ['DashboardName'],
  'Custom::DatabaseMigrations': ['ServiceToken'],
};

export interface ResourceIdentity {
  type: string;
  /** Only the properties that would replace the resource when changed (absent ones omitted). */
  replacing: Record<string, unknown>;
}

export function identities(template: { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> }): Record<string, ResourceIdentity> {
  const out: Record<string, ResourceIdentity> = {};
  for (const [id, r] of Object.entries(template.Resources).sort(([a], [b]) => a.localeCompare(b))) {
    const replacing: Record<string, unknown> = {};
    for (const p of REPLACING_PROPERTIES[r.Type] ?? []) if (r.Properties?.[p] !== undefined) replacing[p] = r.Properties[p];
    out[id] = { type: r.Type, replacing };
  }
  return out;
}

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** The sample stack as `cdk synth -c stage=<stage>` makes it (cdk.json's feature flags included). */
export function synthSampleTemplate(stage: 'staging' | 'prod', outdir: string) {
  const { context } = JSON.parse(readFileSync(join(root, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };
  const app = new App({ outdir, context: { ...context, stage } });
  const { stack } = buildApp(app);
  app.synth();
  return JSON.parse(readFileSync(join(outdir, stack.templateFile), 'utf8'));
}

export const FIXTURE = (stage: string) => join(root, 'test/infra/fixtures/upgrade', `resources-${stage}.json`);
