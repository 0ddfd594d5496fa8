/**
 * Reading request members the way AWS validates them: a missing or ill-typed member is a
 * ValidationException worded like AWS's ("1 validation error detected: ...").
 */
import { AwsError } from './errors.ts';

export type Input = Record<string, unknown>;

const lower = (member: string): string => member.charAt(0).toLowerCase() + member.slice(1);

function invalid(member: string, value: unknown, constraint: string): AwsError {
  const shown = value === undefined || value === null ? 'null' : typeof value === 'string' && value.length <= 64 ? `'${value}'` : 'of the given value';
  return new AwsError('ValidationException', `1 validation error detected: Value ${shown} at '${lower(member)}' failed to satisfy constraint: ${constraint}`);
}

export function optString(input: Input, member: string, opts: { min?: number; max?: number; pattern?: RegExp } = {}): string | undefined {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new AwsError('SerializationException', `${member} must be a string`);
  if (opts.min !== undefined && value.length < opts.min) throw invalid(member, value, `Member must have length greater than or equal to ${opts.min}`);
  if (opts.max !== undefined && value.length > opts.max) throw invalid(member, value, `Member must have length less than or equal to ${opts.max}`);
  if (opts.pattern && !opts.pattern.test(value)) throw invalid(member, value, `Member must satisfy regular expression pattern: ${opts.pattern.source}`);
  return value;
}

export function reqString(input: Input, member: string, opts: { min?: number; max?: number; pattern?: RegExp } = {}): string {
  const value = optString(input, member, { min: 1, ...opts });
  if (value === undefined) throw invalid(member, undefined, 'Member must not be null');
  return value;
}

export function optInt(input: Input, member: string, min: number, max: number): number | undefined {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new AwsError('SerializationException', `${member} must be an integer`);
  if (value < min) throw invalid(member, String(value), `Member must have value greater than or equal to ${min}`);
  if (value > max) throw invalid(member, String(value), `Member must have value less than or equal to ${max}`);
  return value;
}

export function optBool(input: Input, member: string): boolean | undefined {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw new AwsError('SerializationException', `${member} must be a boolean`);
  return value;
}

/** A blob member (base64 on the wire), with AWS's length bounds in bytes. */
export function optBlob(input: Input, member: string, min: number, max: number): Buffer | undefined {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw new AwsError('SerializationException', `${member} must be base64`);
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length < min) throw invalid(member, undefined, `Member must have length greater than or equal to ${min}`);
  if (bytes.length > max) throw invalid(member, undefined, `Member must have length less than or equal to ${max}`);
  return bytes;
}

export function reqBlob(input: Input, member: string, min: number, max: number): Buffer {
  const value = optBlob(input, member, min, max);
  if (value === undefined) throw invalid(member, undefined, 'Member must not be null');
  return value;
}

export function optStringMap(input: Input, member: string): Record<string, string> | undefined {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw new AwsError('SerializationException', `${member} must be a map`);
  for (const v of Object.values(value)) {
    if (typeof v !== 'string') throw new AwsError('SerializationException', `${member} values must be strings`);
  }
  return value as Record<string, string>;
}

export function optList<T>(input: Input, member: string, item: (v: unknown) => T): T[] | undefined {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw new AwsError('SerializationException', `${member} must be a list`);
  return value.map(item);
}

export const epochSeconds = (ms: number = Date.now()): number => Math.floor(ms) / 1000;
