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
  // Connecting may use at most a third of the budget; 4 attempts with backoffs of ≤ 0.6+1.25+2.5 s in between.
  const connectBudget = Math.min(configured.connectMs, Math.floor(budget / 3));
  const backoffs = 4_500;
  const connectTimeoutMs = Math.max(500, Math.floor((connectBudget - Math.min(backoffs, connectBudget / 2)) / 4));
  const afterConnect = Math.max(1_000, budget - connectBudget);
  const lockWaitTimeoutMs = Math.min(configured.lockWaitMs, Math.floor(afterConnect / 2));
  const statementTimeoutMs = Math.min(configured.statementMs, afterConnect);
  const lockTimeoutMs = Math.min(configured.lockTimeoutMs, statementTimeoutMs);
  return {
    connectTimeoutMs,
    connectRetries: 3,
    connectInitialDelayMs: connectBudget >= 9_000 ? 500 : 100,
    connectMaxDelayMs: 2_000,
    lockWaitTimeoutMs,
    lockTimeoutMs,
    statementTimeoutMs,
    hardStopAt: now + budget,
  };
}
