/**
 * The stack's own status, from CloudFormation: the one authoritative signal that an Update is the rollback
 * CloudFormation sends after a failed stack update (the properties alone cannot tell: a redeployed older
 * assembly or a skewed synth clock look the same). Needs `cloudformation:DescribeStacks` on the stack and,
 * in isolated subnets, a CloudFormation interface endpoint.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { awsClientConfig, bindAbort, type AwsCallBudget } from './clients.ts';
import { awsErrorText } from '../seed/aws.ts';

export type StackPhase =
  /** The stack is rolling back an update: an Update now is the rollback. */
  | 'rollback'
  /** A forward update (or anything that is not a rollback): never skip it. */
  | 'forward'
  /** Could not ask (no endpoint, no permission, timeout): the caller decides without this signal. */
  | 'unknown';

export interface StackPhaseResult {
  phase: StackPhase;
  status?: string;
  /** Why the phase is unknown (an AWS error name and message; never credentials). */
  error?: string;
}

const ROLLBACK = new Set(['UPDATE_ROLLBACK_IN_PROGRESS']);
const FORWARD = new Set(['UPDATE_IN_PROGRESS', 'UPDATE_COMPLETE_CLEANUP_IN_PROGRESS', 'CREATE_IN_PROGRESS', 'IMPORT_IN_PROGRESS']);

export async function stackPhase(stackId: string, budget: AwsCallBudget): Promise<StackPhaseResult> {
  const client = bindAbort(new CloudFormationClient(awsClientConfig(budget)), budget.signal);
  try {
    const out = await client.send(new DescribeStacksCommand({ StackName: stackId }));
    const status = out.Stacks?.[0]?.StackStatus;
    if (status && ROLLBACK.has(status)) return { phase: 'rollback', status };
    if (status && FORWARD.has(status)) return { phase: 'forward', status };
    return { phase: 'unknown', status, error: status ? `unexpected stack status ${status}` : 'DescribeStacks returned no stack' };
  } catch (e) {
    return { phase: 'unknown', error: awsErrorText(e) };
  } finally {
    client.destroy();
  }
}
