/**
 * Every wait inside one invocation gets a deadline that ends before Lambda's timeout, so CloudFormation
 * always receives an answer (a silent handler would hold the stack for up to an hour).
 */

export interface ConfiguredTimeouts {
  connectMs: number;
  lockWaitMs: number;
  lockTimeoutMs: number;
  statementMs: number;
}

export interface Deadlines {
  /** Per connect attempt, and the number of retries, so all attempts and backoffs fit in the connect budget. */
  connectTimeoutMs: number;
  connectRetries: number;
  connectInitialDelayMs: number;
  connectMaxDelayMs: number;
  lockWaitTimeoutMs: number;
  lockTimeoutMs: number;
  statementTimeoutMs: number;
  /**
   * `idle_in_transaction_session_timeout` of every session: a transaction left open by a stalled runner (or a
   * seed transaction waiting on an AWS call that never returns) ends and releases its locks. Above the worst
   * AWS call a seed makes inside its transaction.
   */
  idleInTransactionTimeoutMs: number;
  /** Every AWS SDK call (Secrets Manager, KMS, CloudFormation): connect and per-attempt request timeouts. */
  aws: { connectionTimeoutMs: number; requestTimeoutMs: number; maxAttempts: number };
  /** Absolute time (epoch ms) by which the work must stop so a failure can still be reported. */
  hardStopAt: number;
}

/** Kept back from the remaining time for cancelling, logging, metrics and returning the reason. */
export const RESERVE_MS = 10_000;

/**
 * Fits the configured timeouts into what is left of the invocation.
 * @param remainingMs context.getRemainingTimeInMillis()
 */
export function computeDeadlines(remainingMs: number, configured: ConfiguredTimeouts, now = Date.now()): Deadlines {
  const budget = Math.max(1_000, remainingMs - RESERVE_MS);
  // Connecting may use at most a third of the budget, retries and backoffs included.
  const connectBudget = Math.min(configured.connectMs, Math.floor(budget / 3));
  const initialDelay = Math.min(500, Math.max(50, Math.floor(connectBudget / 40)));
  const maxDelay = 2_000;
  let retries = 3;
  let attempt = 0;
  for (; retries >= 0; retries--) {
    attempt = Math.floor((connectBudget - worstBackoff(retries, initialDelay, maxDelay)) / (retries + 1));
    if (attempt >= 1_000 || retries === 0) break;
  }
  const connectTimeoutMs = Math.max(1, Math.min(attempt, connectBudget));
  const connectWorst = (retries + 1) * connectTimeoutMs + worstBackoff(retries, initialDelay, maxDelay);
  const afterConnect = Math.max(1, budget - connectWorst);
  const lockWaitTimeoutMs = Math.min(configured.lockWaitMs, Math.floor(afterConnect / 2));
  const statementTimeoutMs = Math.min(configured.statementMs, afterConnect);
  // Below the statement timeout, so waiting on the application's table locks fails with its own, clearer error.
  const lockTimeoutMs = Math.min(configured.lockTimeoutMs, Math.floor(statementTimeoutMs / 2));
  // A tenth of the budget per AWS attempt (1-30 s), three attempts: never the SDK's 300 s socket default.
  const awsRequestTimeoutMs = Math.max(1_000, Math.min(30_000, Math.floor(budget / 10)));
  const aws = { connectionTimeoutMs: Math.min(5_000, awsRequestTimeoutMs), requestTimeoutMs: awsRequestTimeoutMs, maxAttempts: 3 };
  const idleInTransactionTimeoutMs = aws.requestTimeoutMs * aws.maxAttempts + 5_000;
  return {
    connectTimeoutMs,
    connectRetries: retries,
    connectInitialDelayMs: initialDelay,
    connectMaxDelayMs: maxDelay,
    lockWaitTimeoutMs,
    lockTimeoutMs,
    statementTimeoutMs,
    idleInTransactionTimeoutMs,
    aws,
    hardStopAt: now + budget,
  };
}

/** Sum of the backoff delays before `retries` retries, at their maximum jitter (+25%, see core/db.ts). */
export function worstBackoff(retries: number, initialDelayMs: number, maxDelayMs: number): number {
  let total = 0;
  for (let i = 0; i < retries; i++) total += Math.min(maxDelayMs, initialDelayMs * 2 ** i) * 1.25;
  return Math.ceil(total);
}
