/**
 * One execution's result from its ledger: counts by outcome, the failed targets with their reasons, and the
 * one-paragraph reason a failed deploy shows (CloudFormation caps the whole response at 4 KB).
 */
import { redact } from '../redact.ts';
import type { LedgerEntry } from './types.ts';

export interface FleetSummary {
  executionId: string;
  /** Targets the execution listed (0 when unknown, e.g. `fleet status` reading only the ledger). */
  total: number;
  succeeded: number;
  failed: number;
  /** Handed to CodeBuild (long-running migrations) and not finished when this summary was taken. */
  running: number;
  runningTargets: Array<{ target: string; wave: string; buildId?: string; longRunning: string[] }>;
  /** Listed but never run (the canary failed, the tolerance stopped the Map, the execution was stopped). */
  skipped: number;
  /** Applied migrations summed over the targets. */
  migrationsApplied: number;
  failedTargets: Array<{ target: string; wave: string; errorName?: string; error: string; runId: string }>;
}

export function summarize(executionId: string, entries: LedgerEntry[], total = 0): FleetSummary {
  const failed = entries.filter((e) => e.outcome === 'failed');
  const running = entries.filter((e) => e.outcome === 'running');
  const succeeded = entries.length - failed.length - running.length;
  return {
    executionId,
    total: Math.max(total, entries.length),
    succeeded,
    failed: failed.length,
    running: running.length,
    runningTargets: running.map((e) => ({ target: e.target, wave: e.wave, buildId: e.buildId, longRunning: e.longRunning ?? [] })),
    skipped: Math.max(0, total - entries.length),
    migrationsApplied: entries.reduce((n, e) => n + e.migrationsApplied.length, 0),
    failedTargets: failed.map((e) => ({ target: e.target, wave: e.wave, errorName: e.errorName, error: e.error ?? '', runId: e.runId })),
  };
}

/** Names of the failed targets: what `migrator fleet retry --failed` re-runs. */
export function failedTargetNames(entries: LedgerEntry[]): string[] {
  return entries.filter((e) => e.outcome === 'failed').map((e) => e.target);
}

export const MAX_FLEET_REASON_BYTES = 1500;

/**
 * "3 of 120 targets failed (canary wave failed; 117 skipped): t1: ...; t2: ...; +1 more. Execution arn:..."
 * `why`: what stopped the execution (the canary, the tolerance), if it was stopped.
 */
export function fleetReason(s: FleetSummary, why: string | undefined, shown = 3, maxBytes = MAX_FLEET_REASON_BYTES): string {
  const head =
    `${s.failed} of ${s.total} fleet target(s) failed` +
    (why ? ` (${why}` + (s.skipped ? `; ${s.skipped} not run)` : ')') : s.skipped ? ` (${s.skipped} not run)` : '');
  const tail = ` Execution: ${s.executionId}. Details: migrator fleet status --execution ${s.executionId}`;
  const items = s.failedTargets.slice(0, shown).map((f) => `${f.target}: ${oneLine(f.error, 240)}`);
  const more = s.failedTargets.length > shown ? `; +${s.failedTargets.length - shown} more` : '';
  let body = items.length ? `: ${items.join('; ')}${more}.` : '.';
  // Fit the byte budget by dropping detail, never the counts or the execution.
  while (Buffer.byteLength(head + body + tail, 'utf8') > maxBytes && items.length) {
    items.pop();
    body = `: ${items.join('; ')}; +${s.failedTargets.length - items.length} more.`;
  }
  return head + body + tail;
}

function oneLine(text: string, max: number): string {
  const flat = redact(text).replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
