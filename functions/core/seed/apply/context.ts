/** The state one seed run shares between its steps (one transaction, one client). */
import type pg from 'pg';
import type { SeedAwsClients } from '../aws.ts';
import type { Entry, SeedSet, TenantSeed } from '../load.ts';
import type { Section } from '../model.ts';
import type { LiveSchema } from './live-schema.ts';
import type { Field } from '../model.ts';
import type { DiffResult } from './diff.ts';
import type { Desired } from './rows.ts';
import type { EncryptJob } from './provider-secrets.ts';
import type { LeafJob } from './secret-leaves.ts';
import type { Tracker } from './tracker.ts';

/** One row a section writes: its entry, its parent's id and tenant, and a label for the report. */
export interface Item {
  entry: Entry;
  /** The parent row's id; null when the parent is new (plan) or reset (plan); undefined without a parent. */
  parentId?: string | null;
  tenant?: TenantSeed;
  /** For people: `etms/admin@etms.local`. Never a secret. */
  label: string;
}

export interface RunContext {
  client: pg.ClientBase;
  plan: boolean;
  set: SeedSet;
  live: LiveSchema;
  tracker: Tracker;
  aws?: SeedAwsClients;
  kmsKeyId: string;
  /** The stage key as a key ARN, when given as one (compared with the stored key id: a new key re-encrypts). */
  keyArn?: string;
  secretPrefix: string;
  secretNamespace?: string;
  concurrency: number;
  log: (line: string) => void;
  /** AWSCURRENT version of every named secret (DescribeSecret, metadata only). */
  versions: Map<string, string>;
  /** Secret name -> tenants using it (for messages). */
  secretUsers: Map<string, string[]>;
  /** Ids of rows written or found; null: a new row in plan mode. */
  rowId: WeakMap<Entry, string | null>;
  /** Catalog section -> natural key -> id (null: new, in plan mode). */
  refIds: Map<string, Map<string, string | null>>;
  /** Items per section (children read their parents' items). */
  items: Map<Section, Item[]>;
  /** Tenant ids whose seeded rows a reset deleted (plan: counted only, so their rows count as absent). */
  resetIds: Set<string>;
  /** Secrets this run wrote a new key to (before its COMMIT): named in the error if the run then fails. */
  secretsWritten: string[];
  keys: { encrypted: number; unchanged: number; inboundCreated: number };
  /** Reads a secret's JSON field once per (secret, version, field). */
  secretValue(name: string, version: string, jsonField: string): Promise<string>;
  now: string;
}

export const tenantIdOf = (ctx: RunContext, t: TenantSeed | undefined): string | null | undefined => (t ? ctx.rowId.get(t) : undefined);

/** A row of a section after the diff: what it needs written (for section.ts, encrypt.ts, write.ts). */
export interface Pending {
  item: Item;
  desired: Desired;
  res: DiffResult;
  found: boolean;
  /** Extra columns written with this row (special columns). */
  extra: Record<string, unknown>;
  encrypt: { field: Field; job: EncryptJob }[];
  leaves: { field: Field; value: unknown; jobs: LeafJob[] }[];
  generate: { field: Field; secretName: string }[];
  write: boolean;
}
