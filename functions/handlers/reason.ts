/**
 * The failure text CloudFormation shows: names the migration and PostgreSQL's error, points at the log
 * stream, and fits in the response (the whole body is capped at 4096 bytes; the Provider framework adds
 * the request id and our own stack trace unless we keep it to the message).
 */
import { redact } from '../core/redact.ts';

/** Bytes of Reason we allow ourselves; the rest of the 4 KB body is ids and Data. */
export const MAX_REASON_BYTES = 1024;

export interface ReasonInput {
  message: string;
  logGroupName?: string;
  logStreamName?: string;
  runId?: string;
}

// A reason and a log line are read by many more people than the database: masked again here, whatever the source.
export { redact };

export function failureReason(input: ReasonInput, maxBytes = MAX_REASON_BYTES): string {
  const where = input.logStreamName
    ? ` [run ${input.runId ?? '-'}; logs: ${input.logGroupName ?? ''} ${input.logStreamName}]`
    : input.runId
      ? ` [run ${input.runId}]`
      : '';
  const flat = redact(input.message).replace(/\s+/g, ' ').trim();
  const room = maxBytes - Buffer.byteLength(where, 'utf8');
  return truncateBytes(flat, Math.max(64, room)) + where;
}

/** Cuts to at most `max` UTF-8 bytes, on a character boundary, marking the cut with an ellipsis. */
export function truncateBytes(text: string, max: number): string {
  if (Buffer.byteLength(text, 'utf8') <= max) return text;
  let out = '';
  let bytes = 0;
  const limit = max - 3; // '…' is 3 bytes
  for (const ch of text) {
    const b = Buffer.byteLength(ch, 'utf8');
    if (bytes + b > limit) break;
    out += ch;
    bytes += b;
  }
  return `${out}…`;
}

/**
 * An Error whose stack is only its message: the Provider framework copies the Lambda error's trace into
 * the Reason, and a stack would push it past 4 KB and into noise.
 */
export function reasonError(reason: string): Error {
  const e = new Error(reason);
  e.name = 'MigrationFailed';
  e.stack = reason;
  return e;
}
