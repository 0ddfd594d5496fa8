/** In-process ledger: the local fleet driver's and the tests' implementation of {@link LedgerStore}. */
import type { LedgerEntry, LedgerStore } from './types.ts';

export class MemoryLedger implements LedgerStore {
  private readonly entries = new Map<string, LedgerEntry>();

  async record(entry: LedgerEntry): Promise<void> {
    // A copy: callers must not be able to change a recorded entry afterwards.
    this.entries.set(`${entry.executionId}\u0000${entry.target}`, structuredClone(entry));
  }

  async list(executionId: string): Promise<LedgerEntry[]> {
    return [...this.entries.values()]
      .filter((e) => e.executionId === executionId)
      .sort((a, b) => a.target.localeCompare(b.target))
      .map((e) => structuredClone(e));
  }
}
