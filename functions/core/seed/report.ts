/** The seed report: what a run changed (or would change, in plan mode) and the verification counts. */

/** The tables of the built-in model (this repository's schema), in write order. */
export const SEEDED_TABLES = [
  'llm_models',
  'tools',
  'agents',
  'agent_tools',
  'tenants',
  'users',
  'tenant_agents',
  'tenant_llm_settings',
  'tenant_api_keys',
] as const;
/** A table the model seeds (the report is keyed by the model's tables). */
export type SeededTable = string;

export interface TableChanges {
  inserted: number;
  updated: number;
  unchanged: number;
  deleted: number;
}

export type ChangeAction = 'insert' | 'update' | 'delete' | 'encrypt' | 'generate';

export interface Change {
  table: SeededTable;
  action: ChangeAction;
  /** Natural key, e.g. `etms/admin@etms.local`. Never a secret. */
  key: string;
  /** Changed columns, for updates. */
  fields?: string[];
}

/** A type alias (not an interface) so it is assignable to the job's Record<string, unknown>. */
export type SeedSummary = {
  stage: string;
  /** 'plan': computed only, nothing written, no KMS call. */
  mode: 'apply' | 'plan';
  /** Slugs of the tenants this run covered (all of the stage's, or the --tenant selection). */
  tenants: string[];
  /** Tenants whose seeded data was deleted and recreated (reseed --reset). */
  reset: string[];
  /** Per table of the model, in write order. */
  tables: Record<SeededTable, TableChanges>;
  keys: {
    /** Provider keys encrypted with KMS in this run (new, or their secret's version changed). */
    encrypted: number;
    /** Provider keys left as they were (same secret version). */
    unchanged: number;
    /** Inbound keys generated (tenants or rows that had none: the keys table and `generated` fields). */
    inboundCreated: number;
  };
  /** Rows written in total (inserted + updated + deleted over all tables). 0 for an unchanged seed. */
  rowsWritten: number;
  /** Verification: rows per table after the run (seed 000's last phase). */
  counts: Record<SeededTable, number>;
  /** The first changes, for people; `changesOmitted` counts the rest. */
  changes: Change[];
  changesOmitted: number;
  durationMs: number;
};

export const MAX_LISTED_CHANGES = 200;

export function emptyTables(tables: readonly string[] = SEEDED_TABLES): Record<SeededTable, TableChanges> {
  return Object.fromEntries(tables.map((t) => [t, { inserted: 0, updated: 0, unchanged: 0, deleted: 0 }]));
}

/** A short human report (the CLI's default output). */
export function formatSummary(s: SeedSummary, options: { maxChanges?: number } = {}): string {
  const max = options.maxChanges ?? 25;
  const lines: string[] = [];
  const verb = s.mode === 'plan' ? 'Plan (nothing written)' : 'Seeded';
  const shown = s.tenants.length <= 10 ? s.tenants.join(', ') : `${s.tenants.slice(0, 10).join(', ')}, ... (${s.tenants.length})`;
  lines.push(`${verb}: stage ${s.stage}, tenants ${shown || '(none)'}${s.reset.length ? `; reset ${s.reset.join(', ')}` : ''}`);
  const tables = Object.keys(s.tables);
  const w = Math.max(5, ...tables.map((t) => t.length));
  lines.push(`  ${'table'.padEnd(w)}  inserted  updated  unchanged  deleted    rows`);
  for (const t of tables) {
    const c = s.tables[t]!;
    lines.push(
      `  ${t.padEnd(w)}  ${String(c.inserted).padStart(8)}  ${String(c.updated).padStart(7)}  ${String(c.unchanged).padStart(9)}  ${String(c.deleted).padStart(7)}  ${String(s.counts[t] ?? '').padStart(6)}`,
    );
  }
  lines.push(`  keys: ${s.keys.encrypted} encrypted with KMS, ${s.keys.unchanged} unchanged, ${s.keys.inboundCreated} keys generated (inbound API keys and generated columns)`);
  if (s.changes.length > 0) {
    lines.push(s.mode === 'plan' ? '  would change:' : '  changes:');
    for (const c of s.changes.slice(0, max)) lines.push(`    ${c.action.padEnd(8)} ${c.table} ${c.key}${c.fields ? ` (${c.fields.join(', ')})` : ''}`);
    const more = s.changesOmitted + Math.max(0, s.changes.length - max);
    if (more > 0) lines.push(`    ... and ${more} more (--json lists up to ${MAX_LISTED_CHANGES})`);
  } else lines.push(s.mode === 'plan' ? '  nothing would change' : '  nothing changed');
  lines.push(`  ${s.rowsWritten} rows written in ${s.durationMs} ms`);
  return lines.join('\n');
}
