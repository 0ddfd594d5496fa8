/**
 * The arithmetic of the CLI's bounds and the wording of lost connections, without a database: the
 * client-side query bound, the lock lease, and which errors count as a lost session.
 */
import { describe, expect, it } from 'vitest';
import { queryBoundMs, queryMarginMs } from '../../bin/commands/migrate.ts';
import { describeLoss, isConnectionLoss } from '../../functions/core/connection-loss.ts';
import { QueryTimeoutError } from '../../functions/core/db.ts';
import { lockLeaseMs } from '../../functions/core/migrate/types.ts';

describe('client-side query bound', () => {
  it('is the longer of the statement and lock-wait timeouts plus a tenth (1-15 s); --statement-timeout 0 lifts it', () => {
    expect(queryBoundMs({ statementTimeout: 600_000, lockWaitTimeout: 60_000 })).toBe(615_000);
    expect(queryBoundMs({ statementTimeout: 1_000, lockWaitTimeout: 1_000 })).toBe(2_000);
    expect(queryBoundMs({ statementTimeout: 30_000, lockWaitTimeout: 120_000 })).toBe(132_000);
    expect(queryBoundMs({ statementTimeout: 0, lockWaitTimeout: 60_000 })).toBeUndefined();
    expect(queryBoundMs({ statementTimeout: 2_147_483_647, lockWaitTimeout: 0 })).toBe(2_147_483_647);
    expect([queryMarginMs(0), queryMarginMs(50_000), queryMarginMs(10_000_000)]).toEqual([1_000, 5_000, 15_000]);
  });

  it('the lock lease outlasts a frozen runner\'s statement and idle session: statement timeout + 2 x idle timeout', () => {
    expect(lockLeaseMs(600_000, 60_000)).toBe(720_000);
    expect(lockLeaseMs(3_000, 600)).toBe(4_200);
    expect(lockLeaseMs(2_147_483_647, 60_000)).toBe(2_147_483_647);
    // No lease when a statement may run unbounded (--statement-timeout 0) or the lease is turned off.
    expect(lockLeaseMs(0, 60_000)).toBe(0);
    expect(lockLeaseMs(600_000, 0)).toBe(0);
  });
});

describe('lost connections', () => {
  const coded = (message: string, code?: string) => Object.assign(new Error(message), code ? { code } : {});
  it.each([
    [coded('terminating connection due to administrator command', '57P01'), /SQLSTATE 57P01: a restart, a failover or pg_terminate_backend/],
    [coded('terminating connection due to idle-in-transaction timeout', '25P03'), /idle_in_transaction_session_timeout \(SQLSTATE 25P03/],
    [coded('read ECONNRESET', 'ECONNRESET'), /reset \(ECONNRESET\)/],
    [coded('Connection terminated unexpectedly'), /^Connection terminated unexpectedly$/],
    [coded('Client has encountered a connection error and is not queryable'), /^the connection had already failed$/],
    [new Error('wrapped', { cause: coded('x', '57P01') }), /SQLSTATE 57P01/],
  ])('%s is a lost session, said in words', (error, words) => {
    expect(isConnectionLoss(error)).toBe(true);
    expect(describeLoss(error)).toMatch(words);
  });

  it('other errors are not: a SQL error, a statement timeout, and a query dropped at the client-side bound (it says so itself)', () => {
    expect(isConnectionLoss(coded('relation "x" does not exist', '42P01'))).toBe(false);
    expect(isConnectionLoss(coded('canceling statement due to statement timeout', '57014'))).toBe(false);
    const dropped = new QueryTimeoutError({ timeoutMs: 2_000, where: 'h:5432/db' }, 'SELECT 1', { cause: coded('Connection terminated unexpectedly') });
    expect(isConnectionLoss(dropped)).toBe(false);
    expect(dropped.message).toMatch(/^PostgreSQL at h:5432\/db did not answer within 2000 ms \(the client-side bound\) while running "SELECT 1"/);
    const lockWait = new QueryTimeoutError({ timeoutMs: 5, where: 'h:5432/db' }, 'SELECT 1 FROM "public"."pgmigrations_lock" WHERE id = 1 FOR UPDATE');
    expect(lockWait.message).toContain('while waiting for a lock (');
  });
});
