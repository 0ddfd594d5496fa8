/**
 * Deadlines for AWS SDK v3 calls. An SDK client has no request deadline unless given one (its default socket
 * timeout is 300 s and timeouts are retried), and @smithy/node-http-handler 4.x only *warns* when a request
 * exceeds `requestTimeout` unless `throwOnRequestTimeout` is set. Every client the migrator creates gets:
 * a TCP/TLS connect timeout, a per-attempt request timeout that throws, a bounded number of attempts, and
 * (through `bindAbort`) the invocation's hard-stop signal on every call.
 */

export interface AwsCallBudget {
  /** TCP/TLS connect, per attempt. */
  connectionTimeoutMs: number;
  /** Whole request, per attempt (a server that accepts and never answers ends here). */
  requestTimeoutMs: number;
  /** Attempts per call, throttling and timeouts included. */
  maxAttempts: number;
  /** Aborts every call still in flight (the invocation's hard stop). */
  signal?: AbortSignal;
}

/** CLI and default budget: generous, but never the SDK's 300 s x retries. */
export const DEFAULT_AWS_BUDGET: AwsCallBudget = { connectionTimeoutMs: 5_000, requestTimeoutMs: 30_000, maxAttempts: 3 };

/** Constructor options for any SDK v3 client (`new KMSClient({ ...awsClientConfig(b), region })`). */
export function awsClientConfig(budget: AwsCallBudget = DEFAULT_AWS_BUDGET) {
  return {
    maxAttempts: budget.maxAttempts,
    requestHandler: {
      connectionTimeout: budget.connectionTimeoutMs,
      requestTimeout: budget.requestTimeoutMs,
      throwOnRequestTimeout: true,
      socketTimeout: budget.requestTimeoutMs,
    },
  };
}

interface Sendable {
  send(command: unknown, options?: unknown, cb?: unknown): Promise<unknown>;
}

/**
 * Makes every `client.send(cmd)` carry `signal` (unless the caller passes its own): the hard stop then aborts
 * the KMS / Secrets Manager / CloudFormation call in flight, wherever in the code it was made.
 */
export function bindAbort<C extends Sendable>(client: C, signal: AbortSignal | undefined): C {
  if (!signal) return client;
  const send = client.send.bind(client);
  client.send = ((command: unknown, options?: unknown, cb?: unknown) =>
    typeof options === 'function'
      ? send(command, { abortSignal: signal }, options)
      : send(command, { abortSignal: signal, ...(options as object | undefined) }, cb)) as C['send'];
  return client;
}

/** The deadline that ended an AWS call, in words, or undefined when it was not a deadline. */
export function awsDeadlineHit(e: unknown, budget: AwsCallBudget): string | undefined {
  const err = e as { name?: string; code?: string; message?: string };
  if (err?.name === 'AbortError' || /aborted/i.test(err?.message ?? '')) return 'stopped at the invocation deadline';
  if (err?.name === 'TimeoutError' || err?.code === 'ETIMEDOUT' || /requestTimeout|timed out|socket hang up/i.test(err?.message ?? '')) {
    return `no answer within the ${budget.requestTimeoutMs} ms request timeout (${budget.maxAttempts} attempt(s))`;
  }
  return undefined;
}
