/**
 * One item of the fleet's Distributed Map: migrate one target with the same core as a single-database deploy
 * (`runJob`), inside this invocation's deadlines (a stuck database fails its item, never the fleet's clock),
 * then write the target's ledger entry (fleet-target.ts, shared with the CodeBuild runner). A target with
 * pending long-running migrations is not migrated here: the result says `long-running` and the state
 * machine runs it in CodeBuild.
 *
 * A failed target THROWS (error name `TargetFailed`): only a thrown error fails the Map item and counts
 * toward the Map's tolerated failures; a returned failure would be counted as a success.
 */
import type { Context } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import type { LedgerStore } from '../core/fleet/types.ts';
import { workerEnv } from './fleet-env.ts';
import { fleetLogger } from './fleet-log.ts';
import { runTarget, WorkerEvent, type WorkerResult } from './fleet-target.ts';

export { TargetFailedError, WorkerEvent, type WorkerResult } from './fleet-target.ts';

export interface FleetWorkerDeps {
  /** Ledger to write; default DynamoDB (LEDGER_TABLE). The local driver passes an in-process one. */
  ledger?: LedgerStore;
}

export function createFleetWorker(deps: FleetWorkerDeps = {}) {
  return async function fleetWorker(raw: unknown, context: Context): Promise<WorkerResult> {
    const env = workerEnv();
    const parsed = WorkerEvent.safeParse(raw);
    if (!parsed.success) throw new Error(`Fleet worker: bad event (${parsed.error.issues.map((i) => i.path.join('.')).join(', ')})`);
    const event = parsed.data;
    // The execution ARN is a persistent key: every log line of every worker can be found by execution.
    const runId = randomUUID();
    const logger = fleetLogger({ stage: env.STAGE, trigger: event.trigger, executionArn: event.executionId, target: event.target.name, wave: event.wave, runId, runner: 'lambda' }, context);
    return runTarget({ event, env, runner: 'lambda', remainingMs: context.getRemainingTimeInMillis(), logger, ledger: deps.ledger, runId });
  };
}

export const fleetWorker = createFleetWorker();
