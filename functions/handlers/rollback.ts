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
 * Run records come from `migration_runs` (command `deploy:<Type> content=<hash> nonce=<nonce>`).
 */
import type pg from 'pg';
import { runsTableExists } from '../core/runs-table.ts';

export interface Fingerprint {
  contentHash: string;
  /** Per-synth nonce (runOn every-deploy); '' without one. */
  nonce: string;
}

export function deployCommand(requestType: string, fp: Fingerprint): string {
  return `deploy:${requestType} content=${fp.contentHash} nonce=${fp.nonce || '-'}`;
}

export function parseDeployCommand(command: string): Fingerprint | undefined {
  const m = /^deploy:\w+ content=([0-9a-f]+) nonce=(\S+)$/.exec(command);
  if (!m) return undefined;
  return { contentHash: m[1]!, nonce: m[2] === '-' ? '' : m[2]! };
}

const same = (a: Fingerprint, b: Fingerprint) => a.contentHash === b.contentHash && a.nonce === b.nonce;

export interface PastRun {
  command: string;
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
  const runs = args.history.map((r) => ({ fp: parseDeployCommand(r.command), outcome: r.outcome })).filter((r) => r.fp);
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

/** Deploy runs recorded for one custom resource (actor), newest first; none when the table does not exist yet. */
export async function deployHistory(client: pg.ClientBase, actor: string, limit = 50): Promise<PastRun[]> {
  if (!(await runsTableExists(client))) return [];
  const { rows } = await client.query<PastRun>(
    `SELECT command, outcome FROM public.migration_runs
      WHERE trigger = 'deploy' AND actor = $1
      ORDER BY started_at DESC, finished_at DESC NULLS LAST LIMIT $2`,
    [actor, limit],
  );
  return rows;
}
