/** Pieces of the handlers that need no database: deadlines, the failure reason, rollback recognition, fast failures. */
import { describe, expect, it } from 'vitest';
import { computeDeadlines, RESERVE_MS } from '../../functions/handlers/deadlines.ts';
import { onEvent } from '../../functions/handlers/custom-resource.ts';
import { failureReason, MAX_REASON_BYTES, reasonError, redact, truncateBytes } from '../../functions/handlers/reason.ts';
import { deployCommand, judgeUpdate } from '../../functions/handlers/rollback.ts';
import { createEvent, deleteEvent, lambdaContext } from './support/lambda.ts';

const configured = { connectMs: 60_000, lockWaitMs: 120_000, lockTimeoutMs: 10_000, statementMs: 600_000 };

describe('computeDeadlines', () => {
  it('keeps the configured values when the invocation has room', () => {
    const now = 1_000_000;
    const d = computeDeadlines(14 * 60_000, configured, now);
    expect(d.lockWaitTimeoutMs).toBe(120_000);
    expect(d.lockTimeoutMs).toBe(10_000);
    expect(d.statementTimeoutMs).toBe(600_000);
    expect(d.hardStopAt).toBe(now + 14 * 60_000 - RESERVE_MS);
  });

  it.each([11_000, 15_000, 30_000, 60_000, 120_000, 300_000, 900_000])('fits every wait inside %i ms remaining', (remaining) => {
    const d = computeDeadlines(remaining, configured, 0);
    // Worst case of connecting: every attempt times out and every backoff is at its maximum (+25% jitter).
    let backoff = 0;
    for (let i = 0; i < d.connectRetries; i++) backoff += Math.min(d.connectMaxDelayMs, d.connectInitialDelayMs * 2 ** i) * 1.25;
    const connectWorst = (d.connectRetries + 1) * d.connectTimeoutMs + backoff;
    expect(connectWorst + d.lockWaitTimeoutMs).toBeLessThanOrEqual(remaining - RESERVE_MS + 1);
    expect(connectWorst + d.statementTimeoutMs).toBeLessThanOrEqual(remaining - RESERVE_MS + 1);
    expect(d.lockTimeoutMs).toBeLessThan(d.statementTimeoutMs);
    expect(d.hardStopAt).toBeLessThanOrEqual(remaining - RESERVE_MS);
  });
});

describe('failureReason', () => {
  it('keeps a short message whole and points at the log stream', () => {
    const r = failureReason({ message: 'Migration 0009_x failed: boom (SQLSTATE 22012)', runId: 'r1', logGroupName: '/g', logStreamName: 's/1' });
    expect(r).toBe('Migration 0009_x failed: boom (SQLSTATE 22012) [run r1; logs: /g s/1]');
  });

  it('cuts a long multi-line message to the byte budget, keeping the log pointer', () => {
    const long = `Migration 0009_x failed: ${'é'.repeat(3000)}\n at line`;
    const r = failureReason({ message: long, runId: 'r1', logGroupName: '/g', logStreamName: 's/1' });
    expect(Buffer.byteLength(r)).toBeLessThanOrEqual(MAX_REASON_BYTES);
    expect(r.startsWith('Migration 0009_x failed: ')).toBe(true);
    expect(r).toContain('…');
    expect(r.endsWith('[run r1; logs: /g s/1]')).toBe(true);
    expect(r).not.toContain('\n');
  });

  it('truncateBytes never splits a character', () => {
    const t = truncateBytes('😀😀😀😀', 9);
    expect(Buffer.byteLength(t)).toBeLessThanOrEqual(9);
    expect(t).toBe('😀…');
  });

  it('reasonError carries no stack trace (the Provider framework copies the stack into the Reason)', () => {
    const e = reasonError('short reason');
    expect(e.stack).toBe('short reason');
    expect(e.message).toBe('short reason');
  });
});

describe('rollback recognition', () => {
  const A = { contentHash: 'a'.repeat(64), nonce: '2026-01-01T00:00:00.000Z' };
  const B = { contentHash: 'b'.repeat(64), nonce: '2026-01-02T00:00:00.000Z' };
  const B2 = { contentHash: 'b'.repeat(64), nonce: '2026-01-03T00:00:00.000Z' };
  const run = (fp: typeof A, outcome: string) => ({ fingerprint: fp, outcome });

  it('the deploy command shows the fingerprint to readers (the check reads the columns)', () => {
    expect(deployCommand('Create', A)).toBe(`deploy:Create content=${A.contentHash} nonce=${A.nonce}`);
    expect(deployCommand('Update', { contentHash: 'c'.repeat(64), nonce: '' })).toBe(`deploy:Update content=${'c'.repeat(64)} nonce=-`);
  });

  it('runs recorded without a fingerprint are ignored', () => {
    const history = [{ outcome: 'succeeded' }, run(B, 'failed'), run(A, 'succeeded')];
    expect(judgeUpdate({ requested: A, old: B, bundledContentHash: A.contentHash, history }).rollback).toBe(true);
  });

  it('a forward update is not a rollback', () => {
    expect(judgeUpdate({ requested: B, old: A, bundledContentHash: B.contentHash, history: [run(A, 'succeeded')] }).rollback).toBe(false);
  });

  it('properties for content this code does not carry: rollback', () => {
    const v = judgeUpdate({ requested: A, old: B, bundledContentHash: B.contentHash, history: [] });
    expect(v.rollback).toBe(true);
    expect(v.why).toContain('not the content this function carries');
  });

  it('going back to properties that ran before the last (failed or not) run: rollback', () => {
    const history = [run(B, 'failed'), run(A, 'succeeded')];
    expect(judgeUpdate({ requested: A, old: B, bundledContentHash: A.contentHash, history }).rollback).toBe(true);
    // Another stack resource failed after our success: same answer.
    const history2 = [run(B, 'succeeded'), run(A, 'succeeded')];
    expect(judgeUpdate({ requested: A, old: B, bundledContentHash: A.contentHash, history: history2 }).rollback).toBe(true);
  });

  it('a retried forward update, and the next deploy after a rollback, are not rollbacks', () => {
    // Retry: the run of this very update is the latest.
    expect(judgeUpdate({ requested: B, old: A, bundledContentHash: B.contentHash, history: [run(B, 'succeeded'), run(A, 'succeeded')] }).rollback).toBe(false);
    // After a rollback to B, the next deploy (new nonce) runs normally.
    const history = [run({ contentHash: 'c'.repeat(64), nonce: 'x' }, 'failed'), run(B, 'succeeded'), run(A, 'succeeded')];
    expect(judgeUpdate({ requested: B2, old: B, bundledContentHash: B.contentHash, history }).rollback).toBe(false);
  });
});

describe('redact', () => {
  it('masks password literals in SQL, conninfo and URLs', () => {
    expect(redact(`CREATE ROLE app LOGIN PASSWORD 'hunter2' VALID UNTIL 'infinity'`)).toBe(`CREATE ROLE app LOGIN PASSWORD '***' VALID UNTIL 'infinity'`);
    expect(redact(`ALTER USER x WITH password E'it''s'`)).toBe(`ALTER USER x WITH password '***'`);
    expect(redact('host=db password=s3cret user=x')).toBe('host=db password=*** user=x');
    expect(redact('postgres://app:s3cret@db:5432/app')).toBe('postgres://app:***@db:5432/app');
    expect(redact('Migration 0001 failed: division by zero')).toBe('Migration 0001 failed: division by zero');
  });

  it('is applied to failure reasons', () => {
    const r = failureReason({ message: `Migration 0003_roles failed: role exists while running: CREATE ROLE app PASSWORD 'hunter2';` });
    expect(r).not.toContain('hunter2');
  });
});

describe('custom resource entry: bad configuration or properties fail fast with a short reason', () => {
  const props = { Stage: 'staging', ContentHash: 'a'.repeat(64), RunOn: 'every-deploy', ResourceName: 'X' };
  const saved = { ...process.env };

  it('names the missing environment variables', async () => {
    for (const k of ['STAGE', 'DB_SECRET_ARN']) delete process.env[k];
    try {
      const e = await onEvent(createEvent(props) as never, lambdaContext()).then(() => undefined, (x: Error) => x);
      expect(e?.message).toMatch(/misconfigured.*STAGE.*DB_SECRET_ARN|misconfigured.*DB_SECRET_ARN.*STAGE/);
      expect(e?.stack).toBe(e?.message);
    } finally {
      process.env = { ...saved };
    }
  });

  it('names the bad property, and refuses a stage it does not serve', async () => {
    Object.assign(process.env, { STAGE: 'staging', DB_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:0:secret:x' });
    try {
      const bad = await onEvent(createEvent({ ...props, ContentHash: 'nope' }) as never, lambdaContext()).then(() => undefined, (x: Error) => x);
      expect(bad?.message).toMatch(/Invalid ResourceProperties.*ContentHash/);
      const other = await onEvent(createEvent({ ...props, Stage: 'prod' }) as never, lambdaContext()).then(() => undefined, (x: Error) => x);
      expect(other?.message).toMatch(/asks for stage "prod" but this function serves "staging"/);
      // Delete never touches the database, so it succeeds even with nothing reachable...
      const del = await onEvent(deleteEvent('db-migrations:staging:X', props) as never, lambdaContext());
      expect(del).toMatchObject({ PhysicalResourceId: 'db-migrations:staging:X', Data: { Skipped: 'delete' } });
      // ...and even with broken configuration and properties: nothing may block deleting the stack.
      delete process.env.DB_SECRET_ARN;
      const broken = await onEvent(deleteEvent('db-migrations:staging:X', { ...props, ContentHash: 'x', Stage: 'prod' }) as never, lambdaContext());
      expect(broken.PhysicalResourceId).toBe('db-migrations:staging:X');
    } finally {
      process.env = { ...saved };
    }
  });
});

describe('Powertools instances', () => {
  it('one Logger per environment; each invocation starts with only its own run keys', async () => {
    const { runLogger } = await import('../../functions/core/aws/observability.ts');
    const lines: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: unknown) => (lines.push(String(chunk)), true)) as typeof process.stdout.write;
    try {
      const first = runLogger({ stage: 'staging', trigger: 'invoke', runId: 'run-1', action: 'seed' });
      first.info('first');
      const second = runLogger({ stage: 'staging', trigger: 'deploy', runId: 'run-2' });
      second.info('second');
      expect(second).toBe(first);
    } finally {
      process.stdout.write = write;
    }
    const [a, b] = lines.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(a).toMatchObject({ message: 'first', runId: 'run-1', action: 'seed' });
    expect(b).toMatchObject({ message: 'second', runId: 'run-2', trigger: 'deploy' });
    expect(b.action).toBeUndefined();
  });
});
