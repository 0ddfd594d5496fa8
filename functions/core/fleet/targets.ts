/**
 * Which databases an execution migrates, read when it starts (adding a tenant needs no deploy):
 * Secrets Manager secrets selected by name prefix and/or tag, plus a static list from the app. Then the
 * waves: a canary set first (named targets, or the first N in name order), the rest after it passed.
 */
import { ListSecretsCommand, type Filter, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { MigratorError } from '../errors.ts';
import type { FleetTarget } from './types.ts';

export class FleetTargetsError extends MigratorError {
  override name = 'FleetTargetsError';
}

export interface TargetSource {
  /** Secrets whose name starts with this prefix; the target name is the rest of the secret name. */
  secretNamePrefix?: string;
  /** Secrets with this tag (and value, if given); the target name is the tag `nameTag`'s value, else the secret name. */
  secretTag?: { key: string; value?: string };
  /** Tag holding a secret's target name. @default 'migrator:target' */
  nameTag?: string;
  /** A fixed list from the app. */
  static?: FleetTarget[];
}

export interface CanaryOptions {
  /** These targets form the canary wave (each must exist). */
  names?: string[];
  /** Else the first `count` targets in name order. @default 1 */
  count?: number;
}

export interface Waves {
  canary: FleetTarget[];
  rest: FleetTarget[];
}

/** Lists the secrets of the source (paginated; names and ARNs only, never values). */
export async function listSecretTargets(client: SecretsManagerClient, source: TargetSource): Promise<FleetTarget[]> {
  if (!source.secretNamePrefix && !source.secretTag) return [];
  const filters: Filter[] = [];
  if (source.secretNamePrefix) filters.push({ Key: 'name', Values: [source.secretNamePrefix] });
  if (source.secretTag) {
    filters.push({ Key: 'tag-key', Values: [source.secretTag.key] });
    if (source.secretTag.value !== undefined) filters.push({ Key: 'tag-value', Values: [source.secretTag.value] });
  }
  const nameTag = source.nameTag ?? 'migrator:target';
  const out: FleetTarget[] = [];
  let next: string | undefined;
  do {
    const page = await client.send(new ListSecretsCommand({ Filters: filters, MaxResults: 100, NextToken: next }));
    for (const s of page.SecretList ?? []) {
      if (!s.Name || !s.ARN || s.DeletedDate) continue;
      // ListSecrets' name filter is a prefix match on words; check the real prefix and the tag value here.
      if (source.secretNamePrefix && !s.Name.startsWith(source.secretNamePrefix)) continue;
      if (source.secretTag) {
        const tag = s.Tags?.find((t) => t.Key === source.secretTag!.key);
        if (!tag || (source.secretTag.value !== undefined && tag.Value !== source.secretTag.value)) continue;
      }
      const tagged = s.Tags?.find((t) => t.Key === nameTag)?.Value;
      const name = tagged ?? (source.secretNamePrefix ? s.Name.slice(source.secretNamePrefix.length) : s.Name);
      out.push({ name, secretId: s.ARN });
    }
    next = page.NextToken;
  } while (next);
  return out;
}

/** All targets: static ones and listed ones, by name; a name given twice with different secrets is an error. */
export function mergeTargets(...lists: FleetTarget[][]): FleetTarget[] {
  const byName = new Map<string, FleetTarget>();
  for (const t of lists.flat()) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/.test(t.name)) {
      throw new FleetTargetsError(`Fleet target name "${t.name}" (secret ${t.secretId}) must be 1-128 letters, digits, '.', '_', '/' or '-'.`);
    }
    const seen = byName.get(t.name);
    if (seen && seen.secretId !== t.secretId) {
      throw new FleetTargetsError(`Fleet target "${t.name}" is defined twice, with secrets ${seen.secretId} and ${t.secretId}; names must be unique.`);
    }
    byName.set(t.name, t);
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Keeps only `only` (a retry's failed targets); a name that no longer exists is an error naming it. */
export function restrictTargets(all: FleetTarget[], only: string[] | undefined): FleetTarget[] {
  if (!only) return all;
  const names = new Set(all.map((t) => t.name));
  const missing = only.filter((n) => !names.has(n));
  if (missing.length) throw new FleetTargetsError(`Fleet target(s) not found: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ` (+${missing.length - 10})` : ''}.`);
  const wanted = new Set(only);
  return all.filter((t) => wanted.has(t.name));
}

/**
 * Splits sorted targets into waves. Named canaries must exist in the fleet (a typo would silently
 * leave the fleet without a canary) unless the run is restricted (`restricted`: a retry of some targets),
 * where absent canaries are simply not in this run.
 */
export function planWaves(targets: FleetTarget[], canary: CanaryOptions = {}, restricted = false): Waves {
  if (canary.names?.length) {
    const set = new Set(canary.names);
    const found = targets.filter((t) => set.has(t.name));
    if (!restricted && found.length !== set.size) {
      const missing = canary.names.filter((n) => !found.some((t) => t.name === n));
      throw new FleetTargetsError(`Canary target(s) not in the fleet: ${missing.join(', ')}.`);
    }
    return { canary: found, rest: targets.filter((t) => !set.has(t.name)) };
  }
  const n = Math.max(0, canary.count ?? 1);
  return { canary: targets.slice(0, n), rest: targets.slice(n) };
}
