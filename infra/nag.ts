/**
 * What the constructs' cdk-nag acknowledgements share: the finding ids cdk-nag prints (the AWS managed
 * Lambda policies, ARN patterns with their pseudo parameters), written once. Each caller still gives the
 * reason for its own role.
 */
import { Stack, Token, Validations } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';

const VPC_ACCESS_REASON = 'AWS managed policy required for a VPC-attached Lambda to manage its network interfaces.';

/** cdk-nag's id of the finding for one of the AWS managed policies CDK gives a Lambda function's role. */
function managedLambdaPolicy(name: 'AWSLambdaBasicExecutionRole' | 'AWSLambdaVPCAccessExecutionRole'): string {
  return `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/${name}]`;
}

/**
 * Acknowledge, on `scope` (a function's role, or a construct holding framework functions), the AWS managed
 * policy for the function's own logs, with `logsReason`; with `vpc`, also the VPC access policy.
 */
export function acknowledgeLambdaPolicies(scope: IConstruct, logsReason: string, options: { vpc?: boolean } = {}): void {
  Validations.of(scope).acknowledge({ id: managedLambdaPolicy('AWSLambdaBasicExecutionRole'), reason: logsReason });
  if (options.vpc) Validations.of(scope).acknowledge({ id: managedLambdaPolicy('AWSLambdaVPCAccessExecutionRole'), reason: VPC_ACCESS_REASON });
}

/** cdk-nag's id of a wildcard-resource finding (AwsSolutions-IAM5) on the resource pattern it prints. */
export function wildcardFinding(resource: string): string {
  return `AwsSolutions-IAM5[Resource::${resource}]`;
}

/**
 * The ARN cdk-nag prints for `service` and `rest` in `scope`'s stack: partition, region and account as
 * literals where known at synth (a stack with an explicit env), `<AWS::X>` otherwise.
 */
export function nagArn(scope: IConstruct, service: string, rest: string): string {
  const stack = Stack.of(scope);
  const part = (value: string, pseudo: string) => (Token.isUnresolved(value) ? `<AWS::${pseudo}>` : value);
  return `arn:${part(stack.partition, 'Partition')}:${service}:${part(stack.region, 'Region')}:${part(stack.account, 'AccountId')}:${rest}`;
}

/** The pattern cdk-nag prints for the secrets under `prefix`. */
export function secretsUnderPrefix(scope: IConstruct, prefix: string): string {
  return nagArn(scope, 'secretsmanager', `secret:${prefix}*`);
}

/** The pattern cdk-nag prints for an invoke permission on `fn` and its versions/aliases. */
export function functionAndVersions(fn: lambda.Function): string {
  return `<${Stack.of(fn).getLogicalId(fn.node.defaultChild as lambda.CfnFunction)}.Arn>:*`;
}
