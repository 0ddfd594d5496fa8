/**
 * The fleet's vocabulary: a target (one database, reached through its own RDS-shaped secret), the waves an
 * execution runs them in, and one ledger entry per target per execution.
 */

/** One database of the fleet. `name` is unique in the fleet; `secretId` is an RDS-shaped connection secret. */
export interface FleetTarget {
  name: string;
  secretId: string;
}

export type FleetWave = 'canary' | 'rest';
/**
 * `running`: handed to the long-running runner (CodeBuild) and not finished yet; the build overwrites the
 * entry with its outcome. An entry still `running` after its execution ended means the build died before
 * it could write (its run row in the target's own history says how far it got).
 */
export type TargetOutcome = 'succeeded' | 'failed' | 'running';
/** Where the target's migrations ran: the Map's Lambda worker, or the CodeBuild project for long runs. */
export type TargetRunner = 'lambda' | 'codebuild';

/** What one target's run left in the ledger (never a connection detail or secret value). */
export interface LedgerEntry {
  /** Step Functions execution ARN (or the local driver's id). */
  executionId: string;
  target: string;
  /** The secret the worker connected with (name or ARN, not its value). */
  secretId: string;
  wave: FleetWave;
  /** The target's own run id (its `migration_runs` row), empty when the run never started (no connection). */
  runId: string;
  outcome: TargetOutcome;
  migrationsApplied: string[];
  lastMigration: string | null;
  /** Redacted, one paragraph. */
  error?: string;
  /** Error class (ValidationError, MigrationError, LockWaitTimeoutError, ...). */
  errorName?: string;
  durationMs: number;
  finishedAt: string;
  /** @default 'lambda' */
  runner?: TargetRunner;
  /** Pending migrations marked long-running (why the target went to CodeBuild). */
  longRunning?: string[];
  /** The CodeBuild build id, when the target ran there. */
  buildId?: string;
}

/**
 * Where workers write and `migrator fleet status|retry` read. DynamoDB in AWS (dynamodb-ledger.ts); the
 * local test driver uses the in-process one (memory-ledger.ts).
 */
export interface LedgerStore {
  /** Writes (or overwrites: a retried Lambda invocation) the entry of (executionId, target). */
  record(entry: LedgerEntry): Promise<void>;
  /** Every entry of one execution, in target order. */
  list(executionId: string): Promise<LedgerEntry[]>;
}
