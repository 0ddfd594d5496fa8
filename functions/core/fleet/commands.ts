/**
 * What `migrator fleet status` and `migrator fleet retry --failed` do, over any ledger and any way of
 * starting an execution (Step Functions in AWS, the local driver in tests).
 */
import { MigratorError } from '../errors.ts';
import { failedTargetNames, summarize, type FleetSummary } from './summary.ts';
import type { LedgerStore } from './types.ts';

export class FleetCommandError extends MigratorError {
  override name = 'FleetCommandError';
}

export async function fleetStatus(ledger: LedgerStore, executionId: string): Promise<FleetSummary> {
  const entries = await ledger.list(executionId);
  if (entries.length === 0) {
    throw new FleetCommandError(`The fleet ledger has no entries for execution ${executionId} (wrong execution or stage, or no target has finished yet).`);
  }
  return summarize(executionId, entries);
}

export interface RetryResult {
  /** The execution the retry started; null when nothing had failed. */
  executionId: string | null;
  /** The targets it re-runs. */
  targets: string[];
  from: string;
}

/** Starts an execution of only the failed targets of `executionId`. */
export async function retryFailed(
  ledger: LedgerStore,
  executionId: string,
  start: (input: { trigger: 'invoke'; only: string[] }) => Promise<string>,
): Promise<RetryResult> {
  const entries = await ledger.list(executionId);
  if (entries.length === 0) throw new FleetCommandError(`The fleet ledger has no entries for execution ${executionId}: nothing to retry.`);
  const targets = failedTargetNames(entries);
  if (targets.length === 0) return { executionId: null, targets, from: executionId };
  return { executionId: await start({ trigger: 'invoke', only: targets }), targets, from: executionId };
}
