/**
 * TEST driver (not product code): runs one fleet execution the way the synthesized state machine does,
 * calling the REAL bundled handlers (list targets, per-target worker, summary) with an in-process ledger.
 * It applies the Distributed Map's semantics as Step Functions documents them:
 * - at most `maxConcurrency` items run at a time, started in item order;
 * - a thrown error fails its item (the worker's, or the CodeBuild task's that the item's Choice runs for a
 *   `long-running` answer); when failed items exceed the tolerance (count: failed > N; percentage:
 *   failed / items * 100 > P; neither set: any failure) the Map fails, starts nothing more, and the error
 *   is States.ExceedToleratedFailureThreshold;
 * - the canary Map tolerates nothing, and the rest Map only starts after it succeeded;
 * - a failed Map is caught, the failed wave marked, and the summary step decides the execution's result.
 * Lambda service retries are not simulated (the handlers run in-process and never raise Lambda.* errors).
 */
import { randomUUID } from 'node:crypto';
import { lambdaContext } from '../../handlers/support/lambda.ts';
import type { FleetTarget, LedgerStore } from '../../../functions/core/fleet/types.ts';
import { MemoryTargetLists, type TargetListRef } from '../../../functions/core/fleet/target-lists.ts';

export interface FleetBundle {
  createFleetWorker(deps: { ledger: LedgerStore }): (event: unknown, context: unknown) => Promise<unknown>;
  createListTargets(deps?: object): (event: unknown) => Promise<{ trigger: string; canary: TargetListRef; rest: TargetListRef; total: number }>;
  createFleetSummary(deps: { ledger: LedgerStore }): (event: unknown) => Promise<any>;
}

export interface DriverOptions {
  bundle: FleetBundle;
  ledger: LedgerStore;
  maxConcurrency: number;
  toleratedFailureCount?: number;
  toleratedFailurePercentage?: number;
  /** Per-invocation Lambda timeout the worker's deadlines are computed from. */
  workerTimeoutMs?: number;
  /**
   * The item's CodeBuild task (`codebuild:startBuild.sync`), run when the worker answers `long-running`
   * (the Choice in each Map item); it throws when the build fails. Without it such an item fails.
   */
  build?: (item: { target: FleetTarget; executionId: string; wave: 'canary' | 'rest'; trigger: string }) => Promise<void>;
}

export interface ItemEvent {
  wave: 'canary' | 'rest';
  target: string;
  kind: 'start' | 'end';
  ok?: boolean;
}

export interface ExecutionResult {
  executionId: string;
  summary: any;
  /** start/end of every item, in the order they happened. */
  events: ItemEvent[];
  /** Most items running at once, per wave. */
  peak: Record<'canary' | 'rest', number>;
}

export async function runFleetExecution(o: DriverOptions, input: { trigger?: string; only?: string[] } = { trigger: 'invoke' }): Promise<ExecutionResult> {
  const executionId = `arn:aws:states:us-east-1:000000000000:execution:Fleet:local-${randomUUID()}`;
  const startTime = new Date().toISOString();
  const worker = o.bundle.createFleetWorker({ ledger: o.ledger });
  // The list step writes each wave's list to its store (S3 in AWS); each Map reads its list from there.
  const lists = new MemoryTargetLists();
  const list = await o.bundle.createListTargets({ lists })({ input, executionId });
  const items = { canary: lists.read(list.canary), rest: lists.read(list.rest) };
  const events: ItemEvent[] = [];
  const peak = { canary: 0, rest: 0 };

  async function map(items: FleetTarget[], wave: 'canary' | 'rest', tolerance: { count?: number; percentage?: number }): Promise<boolean> {
    let next = 0;
    let failed = 0;
    let running = 0;
    let stopped = false;
    const exceeded = () => {
      if (tolerance.count === undefined && tolerance.percentage === undefined) return failed > 0;
      return (tolerance.count !== undefined && failed > tolerance.count) || (tolerance.percentage !== undefined && (failed / items.length) * 100 > tolerance.percentage);
    };
    const lane = async () => {
      while (!stopped && next < items.length) {
        const item = items[next++]!;
        running++;
        peak[wave] = Math.max(peak[wave], running);
        events.push({ wave, target: item.name, kind: 'start' });
        let ok = true;
        try {
          const event = { target: item, executionId, wave, trigger: list.trigger };
          const r = (await worker(event, lambdaContext({ timeoutMs: o.workerTimeoutMs ?? 14 * 60_000, functionName: 'Fleet-Worker' }))) as { outcome?: string };
          // The item's Choice: a long-running target goes to its CodeBuild task, in the same item.
          if (r?.outcome === 'long-running') {
            if (!o.build) throw new Error('long-running target, and this driver run has no CodeBuild task');
            await o.build(event);
          }
        } catch {
          ok = false;
          failed++;
          if (exceeded()) stopped = true;
        }
        running--;
        events.push({ wave, target: item.name, kind: 'end', ok });
      }
    };
    await Promise.all(Array.from({ length: Math.min(o.maxConcurrency, items.length) }, lane));
    return !exceeded();
  }

  let failure: { Error: string; Cause: string } | null = null;
  let failedWave: 'canary' | 'rest' | null = null;
  if (!(await map(items.canary, 'canary', { count: 0 }))) {
    failure = { Error: 'States.ExceedToleratedFailureThreshold', Cause: 'canary' };
    failedWave = 'canary';
  } else if (!(await map(items.rest, 'rest', { count: o.toleratedFailureCount, percentage: o.toleratedFailurePercentage }))) {
    failure = { Error: 'States.ExceedToleratedFailureThreshold', Cause: 'rest' };
    failedWave = 'rest';
  }
  const summary = await o.bundle.createFleetSummary({ ledger: o.ledger })({ executionId, startTime, total: list.total, trigger: list.trigger, failure, failedWave });
  return { executionId, summary, events, peak };
}
