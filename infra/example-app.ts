/**
 * `ExampleApplication`: stands for the application that needs the schema. Its only job in the sample is to
 * show the ordering contract: it depends on the migrations resource, so it never deploys ahead of its schema.
 */
import { Duration } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct, type IDependable } from 'constructs';
import { acknowledgeLambdaPolicies } from './nag.ts';

export interface ExampleApplicationProps {
  readonly vpc: ec2.IVpc;
  /** What must be deployed first (the `DatabaseMigrations` construct). */
  readonly dependsOn: IDependable;
  readonly stage: string;
}

export class ExampleApplication extends Construct {
  readonly function: lambda.Function;

  constructor(scope: Construct, id: string, props: ExampleApplicationProps) {
    super(scope, id);
    this.function = new lambda.Function(this, 'Api', {
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => ({ statusCode: 200, body: "ok" });'),
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      timeout: Duration.seconds(10),
      environment: { STAGE: props.stage },
      logGroup: new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.ONE_MONTH }),
    });
    this.node.addDependency(props.dependsOn);
    acknowledgeLambdaPolicies(this.function.role!, 'Sample application function: AWS managed policy limited to its own CloudWatch Logs.', { vpc: true });
  }
}
