/** A Lambda context and CloudFormation custom resource events, shaped as the services send them. */
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import { randomUUID } from 'node:crypto';

export function lambdaContext(options: { timeoutMs?: number; functionName?: string } = {}): Context {
  const started = Date.now();
  const timeoutMs = options.timeoutMs ?? 14 * 60_000;
  const functionName = options.functionName ?? 'Sim-MigrationsMigrator';
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: '/sim/migrator',
    logStreamName: `2026/11/21/[$LATEST]${randomUUID().replace(/-/g, '')}`,
    getRemainingTimeInMillis: () => Math.max(0, timeoutMs - (Date.now() - started)),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/** The stack every simulated event comes from (its status is served by the local CloudFormation). */
export const SIM_STACK_ID = 'arn:aws:cloudformation:us-east-1:000000000000:stack/Sim/00000000-0000-0000-0000-000000000000';

const base = {
  ServiceToken: 'arn:aws:lambda:us-east-1:000000000000:function:Sim-ProviderframeworkonEvent',
  ResponseURL: 'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/sim',
  StackId: SIM_STACK_ID,
  LogicalResourceId: 'Migrations23B444C5',
  ResourceType: 'Custom::DatabaseMigrations',
};

type Props = Record<string, string>;
const withToken = (p: Props) => ({ ServiceToken: base.ServiceToken, ...p });

export function createEvent(props: Props): CloudFormationCustomResourceEvent {
  return { ...base, RequestType: 'Create', RequestId: randomUUID(), ResourceProperties: withToken(props) };
}

export function updateEvent(physicalId: string, props: Props, oldProps: Props): CloudFormationCustomResourceEvent {
  return {
    ...base,
    RequestType: 'Update',
    RequestId: randomUUID(),
    PhysicalResourceId: physicalId,
    ResourceProperties: withToken(props),
    OldResourceProperties: withToken(oldProps),
  };
}

export function deleteEvent(physicalId: string, props: Props): CloudFormationCustomResourceEvent {
  return { ...base, RequestType: 'Delete', RequestId: randomUUID(), PhysicalResourceId: physicalId, ResourceProperties: withToken(props) };
}
