/**
 * cdk-nag findings on `DatabaseMigrations`' functions and Provider framework that are deliberate; each
 * acknowledgement says why.
 */
import { Stack, Token, Validations } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as cr from 'aws-cdk-lib/custom-resources';

/** How cdk-nag renders an ARN part: the literal when known at synth, `<AWS::X>` for a pseudo parameter. */
function nagPart(value: string, pseudo: string) {
  return Token.isUnresolved(value) ? `<AWS::${pseudo}>` : value;
}

/** cdk-nag findings on the migrator functions that are deliberate; each says why. Prefixes: only with seeds. */
export function acknowledgeFunctionFindings(fn: lambda.Function, prefixes?: { tenantPrefix: string; providerPrefix: string }) {
  const role = fn.role!;
  const stack = Stack.of(fn);
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    reason: "AWS managed policy limited to writing the function's own CloudWatch Logs; the log group is created by this construct.",
  });
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
    reason: 'AWS managed policy required for a VPC-attached Lambda to manage its network interfaces.',
  });
  if (!prefixes) return;
  const arnBase = `arn:${nagPart(stack.partition, 'Partition')}:secretsmanager:${nagPart(stack.region, 'Region')}:${nagPart(stack.account, 'AccountId')}:secret:`;
  Validations.of(role).acknowledge({
    id: `AwsSolutions-IAM5[Resource::${arnBase}${prefixes.tenantPrefix}*]`,
    reason: 'Tenant secrets are created by the seeds at run time with names under this fixed prefix; the wildcard covers only that prefix (and the random suffix Secrets Manager appends).',
  });
  Validations.of(role).acknowledge({
    id: `AwsSolutions-IAM5[Resource::${arnBase}${prefixes.providerPrefix}*]`,
    reason: 'Provider secrets referenced by the seeds live under this fixed prefix; read-only, and the wildcard also covers the random suffix Secrets Manager appends to secret ARNs.',
  });
}

export function acknowledgeProviderFindings(provider: cr.Provider, onEvent: lambda.Function) {
  // The framework's own function and role are defined inside aws-cdk-lib; acknowledge on the provider scope.
  Validations.of(provider).acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    reason: 'CDK Provider framework function: AWS managed policy limited to its own CloudWatch Logs.',
  });
  const fnLogicalId = Stack.of(onEvent).getLogicalId(onEvent.node.defaultChild as lambda.CfnFunction);
  Validations.of(provider).acknowledge({
    id: `AwsSolutions-IAM5[Resource::<${fnLogicalId}.Arn>:*]`,
    reason: 'CDK Provider framework: invoke permission on the migrator function and its versions/aliases (the :* suffix), nothing else.',
  });
}
