/**
 * The database part of a migrator function's environment (TLS, deadlines), as every function that
 * connects to a target database gets it: DatabaseMigrations' two functions and the fleet worker. The
 * reading side is `DATABASE_ENV` in functions/handlers/runtime.ts.
 */
import type { Duration } from 'aws-cdk-lib';

export interface DatabaseDeadlines {
  readonly connect: Duration;
  readonly lockWait: Duration;
  readonly lock: Duration;
  readonly statement: Duration;
}

export function databaseEnvironment(t: DatabaseDeadlines): Record<string, string> {
  return {
    // Node 20+ Lambda runtimes do not trust the RDS CA unless told to; the runtime ships the bundle here.
    NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
    DB_TLS: 'verify-full',
    CONNECT_TIMEOUT_MS: String(t.connect.toMilliseconds()),
    LOCK_WAIT_TIMEOUT_MS: String(t.lockWait.toMilliseconds()),
    LOCK_TIMEOUT_MS: String(t.lock.toMilliseconds()),
    STATEMENT_TIMEOUT_MS: String(t.statement.toMilliseconds()),
  };
}
