/**
 * jsonb columns with secret leaves (Transform Army's provider_configs): a leaf object
 * `{secret: <name>, jsonField?: <f>}` in the file is stored as `{ciphertext: <base64>, keyId, secret,
 * version[, jsonField]}`, encrypted under the stage key with the context {tenant: <tenant id>, purpose:
 * <column>.<json path>}. A leaf whose stored secret, field and version (and key, when the stage key is
 * an ARN) are unchanged is kept as stored: no Encrypt.
 */
import { isSecretLeaf } from '../data-schema.ts';
import { stableJson } from '../sql.ts';
import type { RunContext } from './context.ts';

export interface LeafJob {
  path: (string | number)[];
  /** `provider_configs.hubspot.apiKey`: the context's purpose. */
  purpose: string;
  secret: string;
  jsonField: string;
}

const get = (v: unknown, path: readonly (string | number)[]) => path.reduce<unknown>((x, k) => (x && typeof x === 'object' ? (x as Record<string, unknown>)[k as string] : undefined), v);

/** The value to store (reused leaves filled in, new ones as placeholders) and the leaves to encrypt. */
export function planLeaves(ctx: RunContext, column: string, desired: unknown, stored: unknown): { value: unknown; jobs: LeafJob[]; changed: boolean } {
  const jobs: LeafJob[] = [];
  const walk = (v: unknown, path: (string | number)[]): unknown => {
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...path, i]));
    if (isSecretLeaf(v)) {
      const jsonField = v.jsonField ?? 'apiKey';
      const old = get(stored, path) as Record<string, unknown> | undefined;
      const version = ctx.versions.get(v.secret);
      const reusable =
        old && typeof old === 'object' && typeof old.ciphertext === 'string' && old.secret === v.secret && (old.jsonField ?? 'apiKey') === jsonField &&
        old.version === version && (ctx.keyArn === undefined || old.keyId === ctx.keyArn);
      if (reusable) return old;
      jobs.push({ path, purpose: [column, ...path].join('.'), secret: v.secret, jsonField });
      return { secret: v.secret, ...(v.jsonField ? { jsonField: v.jsonField } : {}), version, ciphertext: null, keyId: null };
    }
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, [...path, k])]));
    return v;
  };
  const value = walk(desired ?? null, []);
  return { value, jobs, changed: jobs.length > 0 || stableJson(value) !== stableJson(stored ?? null) };
}

/**
 * Puts an encrypted leaf into the value at its path. A leaf at the top of the column (empty path) is the
 * value itself: the placeholder planLeaves made for it (a fresh object, never the stored value) is filled
 * in place, as the caller holds that object.
 */
export function fillLeaf(value: unknown, job: LeafJob, enc: { ciphertext: Buffer; keyArn: string; version: string }): void {
  const filled = { ciphertext: enc.ciphertext.toString('base64'), keyId: enc.keyArn, version: enc.version };
  if (job.path.length === 0) {
    Object.assign(value as Record<string, unknown>, filled);
    return;
  }
  const parent = get(value, job.path.slice(0, -1)) as Record<string | number, unknown>;
  const k = job.path.at(-1)!;
  const leaf = parent[k] as Record<string, unknown>;
  parent[k] = { ...leaf, ...filled };
}

/** The secret leaves of a column's value: name, JSON field, and path inside the value (for the version lookups and messages). */
export function leafUses(v: unknown, path: (string | number)[] = [], out: { secret: string; jsonField: string; path: (string | number)[] }[] = []) {
  if (Array.isArray(v)) v.forEach((x, i) => leafUses(x, [...path, i], out));
  else if (isSecretLeaf(v)) out.push({ secret: v.secret, jsonField: v.jsonField ?? 'apiKey', path });
  else if (v && typeof v === 'object') Object.entries(v).forEach(([k, x]) => leafUses(x, [...path, k], out));
  return out;
}
