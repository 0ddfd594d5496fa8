/**
 * Telling CloudFormation's rollback Update apart from a forward Update. CloudFormation does not flag it: after
 * a failed stack update it sends an Update with old and new properties swapped. Running it would mean going
 * back (down migrations) — which a deploy never does — so it is recognised and skipped.
 *
 * Recognised when either
 *  1. the requested content hash is not the content this function carries (the function was not rolled back
 *     yet, or the properties point at older content), or
 *  2. the last deploy run of this resource ran exactly the "old" properties (content hash and deploy nonce)
 *     and the requested properties were run before: we are being asked to go back to where we were.
 * Deploy runs come from the run history, which keeps each one's fingerprint in columns (content_hash,
 * deploy_nonce).
 */
import type pg from 'pg';
import { listRuns, type DeployFingerprint } from '../core/run-history.ts';
import { ensureRunsTable, runsTableExists, runsTableOf } from '../core/runs-table.ts';

export type Fingerprint = DeployFingerprint;

/**
 * The command recorded for a deploy run. The fingerprint is written into the text too, only for people
 * reading `migrator runs` and for a function rolled back to 0.1.0, which reads it from there; this code
 * reads the columns.
 */
export function deployCommand(requestType: string, fp: Fingerprint): string {
  return `deploy:${requestType} content=${fp.contentHash} nonce=${fp.nonce || '-'}`;
}

const same = (a: Fingerprint, b: Fingerprint) => a.contentHash === b.contentHash && a.nonce === b.nonce;

export interface PastRun {
  /** undefined: a run recorded without a fingerprint. */
  fingerprint?: Fingerprint;
  outcome: string;
}

export interface RollbackVerdict {
  rollback: boolean;
  why?: string;
}

export function judgeUpdate(args: {
  requested: Fingerprint;
  old: Fingerprint;
  bundledContentHash: string;
  /** Deploy runs of this resource, newest first. */
  history: PastRun[];
}): RollbackVerdict {
  if (args.requested.contentHash !== args.bundledContentHash) {
    return {
      rollback: true,
      why: `requested content ${short(args.requested.contentHash)} is not the content this function carries (${short(args.bundledContentHash)})`,
    };
  }
  const runs = args.history.filter((r) => r.fingerprint).map((r) => ({ fp: r.fingerprint, outcome: r.outcome }));
  const [latest, ...earlier] = runs;
  if (latest && same(latest.fp!, args.old) && !same(args.requested, args.old)) {
    if (earlier.some((r) => r.outcome === 'succeeded' && same(r.fp!, args.requested))) {
      return {
        rollback: true,
        why: `the last deploy run (${latest.outcome}) ran content ${short(args.old.contentHash)} and the requested properties were deployed before it`,
      };
    }
  }
  return { rollback: false };
}

function short(hash: string) {
  return hash.slice(0, 12);
}

/**
 * Deploy runs recorded for one custom resource (actor), newest first; none when the table does not exist
 * yet. A table written by 0.1.0 is adopted first, so its deploy rows' fingerprints are in their columns.
 */
export async function deployHistory(client: pg.ClientBase, actor: string, options: { runsTable?: string; limit?: number } = {}): Promise<PastRun[]> {
  const table = runsTableOf(options.runsTable);
  if (!(await runsTableExists(client, table))) return [];
  await ensureRunsTable(client, table);
  const rows = await listRuns(client, { runsTable: options.runsTable, deployActor: actor, limit: options.limit ?? 50 });
  return rows.map((r) => ({
    outcome: r.outcome,
    fingerprint: r.contentHash === null ? undefined : { contentHash: r.contentHash, nonce: r.deployNonce ?? '' },
  }));
}
