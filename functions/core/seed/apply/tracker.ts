/** What a run changes, per table of the model and per tenant (for the report and the audit rows). */
import { emptyTables, MAX_LISTED_CHANGES, type Change, type ChangeAction, type SeededTable } from '../report.ts';

type Counts = { inserted: number; updated: number; deleted: number };

export class Tracker {
  readonly tables;
  readonly changes: Change[] = [];
  omitted = 0;
  /** Per tenant slug ('' = catalog): table -> counts, for the audit rows. */
  readonly perTenant = new Map<string, Record<string, Counts>>();

  constructor(tables: readonly string[]) {
    this.tables = emptyTables(tables);
  }

  private count(table: SeededTable, tenant: string, kind: keyof Counts, n: number) {
    this.tables[table]![kind] += n;
    const per = this.perTenant.get(tenant) ?? {};
    const c = (per[table] ??= { inserted: 0, updated: 0, deleted: 0 });
    c[kind] += n;
    this.perTenant.set(tenant, per);
  }

  private list(change: Change) {
    if (this.changes.length < MAX_LISTED_CHANGES) this.changes.push(change);
    else this.omitted++;
  }

  record(table: SeededTable, action: ChangeAction, key: string, tenant: string, fields?: string[]): void {
    if (action === 'insert') this.count(table, tenant, 'inserted', 1);
    else if (action === 'update') this.count(table, tenant, 'updated', 1);
    else if (action === 'delete') this.count(table, tenant, 'deleted', 1);
    this.list(fields ? { table, action, key, fields } : { table, action, key });
  }

  /** Rows deleted by a reset: counted one by one, listed once per tenant and table. */
  deleted(table: SeededTable, tenant: string, n: number): void {
    if (n === 0) return;
    this.count(table, tenant, 'deleted', n);
    this.list({ table, action: 'delete', key: `${tenant}/* (${n} rows)` });
  }

  unchanged(table: SeededTable, n = 1): void {
    this.tables[table]!.unchanged += n;
  }

  rowsWritten(): number {
    return Object.values(this.tables).reduce((n, t) => n + t.inserted + t.updated + t.deleted, 0);
  }
}
