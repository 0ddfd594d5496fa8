/**
 * Custom::DatabaseFleetMigrations, through the CDK Provider framework with an asynchronous `isComplete`:
 * `onEvent` starts a fleet execution; `isComplete` (polled) answers when it ended. The deploy fails when the
 * execution failed (canary failed, tolerance exceeded) with the execution's own reason: how many targets
 * failed, the first few with errors, the execution ARN.
 *
 * Decided cases:
 * - `Wait` = "false" (post-deploy mode): onEvent starts the execution and the deploy goes on; the alarm reports.
 * - Delete: nothing runs (the databases outlive the stack).
 * - The rollback Update after a failed stack update (old and new properties swapped, recognised by the
 *   synth time stamp going backwards): skipped; no execution runs old migrations against migrated targets.
 * - The wait ends (`WaitSeconds`) while the execution still runs (typically a long-running migration in
 *   CodeBuild): the deploy FAILS with a reason naming the execution and the targets still migrating; the
 *   execution is NOT stopped (stopping cannot interrupt a running migration cleanly, and each target's
 *   migrations are transactional and recorded), so it finishes and the ledger gets every target's outcome
 *   (a target in CodeBuild reads `running` until its build writes `succeeded` or `failed`).
 *   The next deploy starts a new execution: targets already migrated are a no-op, the rest are migrated.
 *   A target the old execution is still migrating holds its migration lock: the new execution's worker sees
 *   the lock and fails that target at once with a reason naming the holder (`TargetBusy`), so no second
 *   run starts on it; a Lambda-run target would wait for the lock within the lock-wait deadline instead.
 */
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { randomBytes } from 'node:crypto';
import { awsClientConfig } from '../core/aws/clients.ts';
import * as z from 'zod';
import { fleetLogger as createLogger } from './fleet-log.ts';
import { DynamoDbLedger } from '../core/fleet/dynamodb-ledger.ts';
import { summarize } from '../core/fleet/summary.ts';
import type { LedgerStore } from '../core/fleet/types.ts';
import { deployEnv } from './fleet-env.ts';
import { reasonError, truncateBytes } from './reason.ts';

const Props = z.object({
  ServiceToken: z.string().optional(),
  Stage: z.string().min(1),
  ResourceName: z.string().min(1),
  ContentHash: z.string().min(1),
  Wait: z.enum(['true', 'false']).default('true'),
  WaitSeconds: z.coerce.number().int().positive().max(3600).default(3000),
  /** Synth time (ISO): changes every deploy, and goes backwards on a rollback. */
  DeployNonce: z.string().default(''),
});

export interface FleetOnEventResponse {
  PhysicalResourceId: string;
  Data: Record<string, string>;
}

export interface FleetIsCompleteResponse {
  IsComplete: boolean;
  Data?: Record<string, string>;
}

export interface FleetDeployDeps {
  sfn?: SFNClient;
  ledger?: LedgerStore;
  now?: () => number;
}

const MAX_REASON_BYTES = 2048;

export function createFleetDeploy(deps: FleetDeployDeps = {}) {
  const now = deps.now ?? Date.now;
  const sfn = () => (deps.sfn ??= new SFNClient(awsClientConfig()));

  async function onEvent(event: CloudFormationCustomResourceEvent): Promise<FleetOnEventResponse> {
    const logger = createLogger({ stage: process.env.STAGE ?? '?', trigger: 'deploy', requestType: event.RequestType });
    if (event.RequestType === 'Delete') {
      logger.info('delete: nothing to do, the databases are left as they are');
      return { PhysicalResourceId: event.PhysicalResourceId, Data: { Skipped: 'delete', ExecutionArn: '' } };
    }
    const env = deployEnv();
    const props = parse(event.ResourceProperties);
    const physicalId = event.RequestType === 'Create' ? `fleet-migrations:${props.Stage}:${props.ResourceName}` : event.PhysicalResourceId;
    if (event.RequestType === 'Update') {
      const old = parse(event.OldResourceProperties);
      if (props.DeployNonce && old.DeployNonce && props.DeployNonce < old.DeployNonce) {
        logger.warn('rollback update: skipped; no fleet execution runs the previous migrations', { requested: props.DeployNonce, previous: old.DeployNonce });
        return { PhysicalResourceId: physicalId, Data: { Skipped: 'rollback', ExecutionArn: '' } };
      }
    }
    const name = `deploy-${new Date(now()).toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`;
    const out = await sfn().send(
      new StartExecutionCommand({ stateMachineArn: env.STATE_MACHINE_ARN, name, input: JSON.stringify({ trigger: 'deploy' }) }),
    );
    logger.info('fleet execution started', { executionArn: out.executionArn, wait: props.Wait });
    return {
      PhysicalResourceId: physicalId,
      Data: { ExecutionArn: out.executionArn ?? '', StartedAt: String(now()), Wait: props.Wait, WaitSeconds: String(props.WaitSeconds) },
    };
  }

  async function isComplete(event: CloudFormationCustomResourceEvent & Partial<FleetOnEventResponse>): Promise<FleetIsCompleteResponse> {
    const data = event.Data ?? {};
    if (data.Skipped || !data.ExecutionArn) return { IsComplete: true, Data: data };
    if (data.Wait === 'false') return { IsComplete: true, Data: { ExecutionArn: data.ExecutionArn, Waited: 'false' } };
    const arn = data.ExecutionArn;
    const d = await sfn().send(new DescribeExecutionCommand({ executionArn: arn }));
    if (d.status === 'RUNNING' || d.status === 'PENDING_REDRIVE') {
      const waited = (now() - Number(data.StartedAt ?? now())) / 1000;
      if (waited < Number(data.WaitSeconds ?? 3000)) return { IsComplete: false };
      const env = deployEnv();
      const ledger = deps.ledger ?? new DynamoDbLedger({ tableName: env.LEDGER_TABLE, client: new DynamoDBClient(awsClientConfig()) });
      const s = summarize(arn, await ledger.list(arn));
      const still = s.runningTargets.slice(0, 3).map((r) => `${r.target} (${r.longRunning.join(', ')})`);
      const inBuild = s.running
        ? ` ${s.running} target(s) still migrating in CodeBuild: ${still.join('; ')}${s.running > still.length ? `; +${s.running - still.length} more` : ''}.`
        : '';
      throw reasonError(
        truncateBytes(
          `Fleet execution still running after ${Math.round(waited / 60)} min (the deploy waits at most ${Math.round(Number(data.WaitSeconds) / 60)} min): ` +
            `${s.succeeded} target(s) migrated and ${s.failed} failed so far.${inBuild} The execution is not stopped; it finishes and records every target. ` +
            'The next deploy migrates what is left; a target still being migrated holds its migration lock, so no second run starts on it. ' +
            `Execution: ${arn}. Details: migrator fleet status --execution ${arn}`,
          MAX_REASON_BYTES,
        ),
      );
    }
    if (d.status === 'SUCCEEDED') {
      const summary = safeJson(d.output) as { succeeded?: number; failed?: number; skipped?: number; total?: number } | undefined;
      return {
        IsComplete: true,
        Data: {
          ExecutionArn: arn,
          Total: String(summary?.total ?? ''),
          Succeeded: String(summary?.succeeded ?? ''),
          Failed: String(summary?.failed ?? ''),
        },
      };
    }
    // FAILED, TIMED_OUT, ABORTED: the Fail state's cause is the summary's reason.
    // A Lambda error (e.g. the list step) arrives as JSON {errorMessage, ...}: keep its message.
    const lambdaMessage = (safeJson(d.cause) as { errorMessage?: string } | undefined)?.errorMessage;
    const cause =
      d.cause && !d.cause.startsWith('{')
        ? d.cause
        : `Fleet execution ${d.status?.toLowerCase()}${d.error ? ` (${d.error}${lambdaMessage ? `: ${lambdaMessage}` : ''})` : ''}. Execution: ${arn}. Details: migrator fleet status --execution ${arn}`;
    throw reasonError(truncateBytes(cause, MAX_REASON_BYTES));
  }

  return { onEvent, isComplete };
}

function parse(raw: unknown) {
  const p = Props.safeParse(raw);
  if (!p.success) throw reasonError(`Invalid properties of Custom::DatabaseFleetMigrations: ${p.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return p.data;
}

function safeJson(text: string | undefined): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

const deploy = createFleetDeploy();
export const fleetDeployOnEvent = deploy.onEvent;
export const fleetDeployIsComplete = deploy.isComplete;
