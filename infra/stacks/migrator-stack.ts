/**
 * The sample app's stack, one per stage: network, database, stage key, migrations custom resource,
 * observability, and an application that deploys only after its schema.
 */
import { Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import type { Construct } from 'constructs';
import { DatabaseMigrations, type RunOn } from '../database-migrations.ts';
import { ExampleApplication } from '../example-app.ts';
import { MigrationObservability } from '../observability.ts';
import { operationsFunctionName, stackName } from '../names.ts';
import type { DatabaseFleetMigrations } from '../fleet/database-fleet-migrations.ts';
import { addTenantFleet } from '../fleet/sample-fleet.ts';
import { acknowledgeLambdaPolicies, wildcardFinding } from '../nag.ts';

export type StageName = 'staging' | 'prod';

export interface MigratorStackProps extends StackProps {
  readonly stage: StageName;
  /** Migrations folder. */
  readonly migrationsDir: string;
  /** Seeds folder. */
  readonly seedsDir?: string;
  /** @default 'every-deploy' */
  readonly runOn?: RunOn;
  /** Tenant-database migrations: adds the fleet stage (DatabaseFleetMigrations). @default no fleet */
  readonly tenantMigrationsDir?: string;
}

export { operationsFunctionName, stackName };

export class MigratorStack extends Stack {
  readonly vpc: ec2.Vpc;
  readonly database: rds.DatabaseInstance;
  readonly stageKey: kms.Key;
  readonly migrations: DatabaseMigrations;
  readonly observability: MigrationObservability;
  readonly app: ExampleApplication;
  readonly fleet?: DatabaseFleetMigrations;

  constructor(scope: Construct, id: string, props: MigratorStackProps) {
    super(scope, id, props);
    const prod = props.stage === 'prod';

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      // Isolated only: nothing here talks to the internet; AWS APIs go through the endpoints below.
      subnetConfiguration: [{ name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      flowLogs: {
        rejected: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(
            new logs.LogGroup(this, 'FlowLogs', { retention: logs.RetentionDays.ONE_MONTH }),
          ),
          trafficType: ec2.FlowLogTrafficType.REJECT,
        },
      },
    });
    for (const [name, service] of [
      ['SecretsManager', ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER],
      ['Kms', ec2.InterfaceVpcEndpointAwsService.KMS],
      // The migrator reads its stack's status (DescribeStacks) to recognise a rollback without the database.
      ['CloudFormation', ec2.InterfaceVpcEndpointAwsService.CLOUDFORMATION],
    ] as const) {
      const endpoint = this.vpc.addInterfaceEndpoint(name, {
        service,
        privateDnsEnabled: true,
        subnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      });
      Validations.of(endpoint).acknowledge({
        id: 'AwsSolutions-EC23',
        reason: 'Endpoint security group admits HTTPS from the VPC CIDR only (an intrinsic the rule cannot evaluate), not 0.0.0.0/0.',
      });
    }

    this.stageKey = new kms.Key(this, 'StageKey', {
      description: `Tenant secret encryption key (${props.stage})`,
      enableKeyRotation: true,
      // The name seeds/stages.yaml refers to (kmsKeyId).
      alias: `alias/migrator-${props.stage}`,
      removalPolicy: prod ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(30),
    });

    this.database = new rds.DatabaseInstance(this, 'Database', {
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17_6 }),
      instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, prod ? ec2.InstanceSize.MEDIUM : ec2.InstanceSize.MICRO),
      vpc: this.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      credentials: rds.Credentials.fromGeneratedSecret('migrator_admin'),
      databaseName: 'app',
      storageEncrypted: true,
      multiAz: prod,
      allocatedStorage: 20,
      backupRetention: Duration.days(prod ? 14 : 3),
      deletionProtection: prod,
      removalPolicy: prod ? RemovalPolicy.SNAPSHOT : RemovalPolicy.DESTROY,
      iamAuthentication: true,
      publiclyAccessible: false,
      cloudwatchLogsExports: ['postgresql'],
      cloudwatchLogsRetention: logs.RetentionDays.ONE_MONTH,
      parameters: { 'rds.force_ssl': '1' },
    });
    // RDS log export retention is applied by CDK's LogRetention singleton function.
    const logRetention = this.node.tryFindChild('LogRetentionaae0aa3c5b4d4f87b02d85b201efdd8a');
    if (logRetention) {
      acknowledgeLambdaPolicies(logRetention, "CDK's LogRetention helper function: AWS managed policy limited to its own logs.");
      Validations.of(logRetention).acknowledge({
        id: wildcardFinding('*'),
        reason: "CDK's LogRetention helper sets retention on log groups whose names are only known at deploy time (RDS log exports).",
      });
    }
    // Rotation works with the migrator because it reads the secret at every invocation.
    this.database.addRotationSingleUser({ automaticallyAfter: Duration.days(30) });

    this.migrations = new DatabaseMigrations(this, 'Migrations', {
      database: this.database,
      databaseSecret: this.database.secret!,
      vpc: this.vpc,
      migrationsDir: props.migrationsDir,
      seedsDir: props.seedsDir,
      stage: props.stage,
      encryptionKey: this.stageKey,
      protectedStage: prod,
      runOn: props.runOn,
      operationsFunctionName: operationsFunctionName(props.stage),
      logRetention: prod ? logs.RetentionDays.ONE_YEAR : logs.RetentionDays.ONE_MONTH,
    });

    this.observability = new MigrationObservability(this, 'Observability', { migrations: this.migrations });
    if (props.tenantMigrationsDir) {
      // Database-per-tenant: every tenant database migrated by Step Functions (infra/fleet/).
      this.fleet = addTenantFleet(this, { stage: props.stage, vpc: this.vpc, database: this.database, migrationsDir: props.tenantMigrationsDir, observability: this.observability }).fleet;
    }
    this.app = new ExampleApplication(this, 'App', { vpc: this.vpc, dependsOn: this.migrations, stage: props.stage });

    if (!prod) {
      Validations.of(this.database).acknowledge({
        id: 'AwsSolutions-RDS3',
        reason: 'Staging runs single-AZ to save cost; prod is Multi-AZ.',
      });
      Validations.of(this.database).acknowledge({
        id: 'AwsSolutions-RDS10',
        reason: 'Staging is disposable; prod has deletion protection and snapshot-on-delete.',
      });
    }
    Validations.of(this.database).acknowledge({
      id: 'AwsSolutions-RDS11',
      reason: 'Default port 5432: the instance is reachable only from the migrator and app security groups in isolated subnets; a non-default port adds no protection.',
    });
  }
}
