/**
 * The sample app's fleet stage: tenant databases (one per tenant; here on the stage's shared instance, each
 * reached through its own secret under `migrator/<stage>/fleet/`) migrated by DatabaseFleetMigrations
 * next to the shared database's DatabaseMigrations.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as rds from 'aws-cdk-lib/aws-rds';
import type { Construct } from 'constructs';
import type { MigrationObservability } from '../observability.ts';
import { DatabaseFleetMigrations } from './database-fleet-migrations.ts';
import { FleetObservability } from './fleet-observability.ts';

export interface SampleFleetProps {
  readonly stage: string;
  readonly vpc: ec2.Vpc;
  readonly database: rds.IDatabaseInstance;
  readonly migrationsDir: string;
  readonly observability: MigrationObservability;
}

export function addTenantFleet(scope: Construct, props: SampleFleetProps) {
  const prod = props.stage === 'prod';
  // The worker writes its ledger from isolated subnets: DynamoDB through a gateway endpoint (no charge).
  props.vpc.addGatewayEndpoint('DynamoDb', { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB, subnets: [{ subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
  const fleet = new DatabaseFleetMigrations(scope, 'TenantFleet', {
    stage: props.stage,
    migrationsDir: props.migrationsDir,
    targets: { secretNamePrefix: `migrator/${props.stage}/fleet/` },
    vpc: props.vpc,
    databases: [props.database],
    canary: { count: 1 },
    // Staging tolerates a few broken test tenants; prod stops at the first failure after the canary.
    ...(prod ? {} : { toleratedFailurePercentage: 10 }),
    stateMachineName: `pg-tenant-migrator-${props.stage}-fleet`,
    ledgerRemovalPolicy: prod ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
  });
  const observability = new FleetObservability(scope, 'TenantFleetObservability', {
    fleet,
    alarmTopic: props.observability.alarmTopic,
    dashboard: props.observability.dashboard,
  });
  return { fleet, observability };
}
