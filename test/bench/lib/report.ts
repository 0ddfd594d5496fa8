/**
 * The benchmark's result rows, printed as one table and written as JSON.
 * A row is a measurement, an informational figure, or a piece that is not available yet.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export type Verdict = 'PASS' | 'MISS' | 'info' | 'n/a';

export interface Row {
  /** Section letter and title, e.g. "A. Migrations (issue 2)". */
  readonly section: string;
  /** What was measured. */
  readonly name: string;
  /** Human-readable figure, e.g. "2.31 s" or "1.12x". */
  readonly value: string;
  /** Raw number behind `value` (seconds, bytes, ratio, ...), for the JSON output. */
  readonly raw?: number | null;
  /** Target as text, e.g. "<= 1.3x"; empty when the row is informational. */
  readonly target?: string;
  readonly verdict: Verdict;
  /** Samples, ratios, reasons: anything the reader needs to trust the figure. */
  readonly detail?: string;
}

export class Report {
  readonly rows: Row[] = [];

  add(row: Row): Row {
    this.rows.push(row);
    // Print as we go so a long run shows progress; the full table comes at the end.
    console.log(`  ${row.verdict === 'n/a' ? '-' : '+'} ${row.name}: ${row.value}${row.target ? ` (target ${row.target}: ${row.verdict})` : ''}`);
    return row;
  }

  /** A row for a piece that could not be measured: printed, never a failure of the run. */
  unavailable(section: string, name: string, reason: string, target?: string): Row {
    return this.add({ section, name, value: `not available yet (${reason})`, raw: null, target, verdict: 'n/a' });
  }

  /** Plain-text table, grouped by section. */
  table(): string {
    const head = ['measurement', 'value', 'target', 'verdict', 'detail'];
    const body = this.rows.map((r) => [r.name, r.value, r.target ?? '', r.verdict, r.detail ?? '']);
    const widths = head.map((h, i) => Math.min(i === 4 ? 200 : 90, Math.max(h.length, ...body.map((b) => b[i]!.length))));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ').trimEnd();
    const out: string[] = [];
    let section = '';
    out.push(line(head), widths.map((w) => '-'.repeat(w)).join('-|-'));
    this.rows.forEach((r, i) => {
      if (r.section !== section) {
        section = r.section;
        out.push(`== ${section}`);
      }
      out.push(line(body[i]!));
    });
    return out.join('\n');
  }

  writeJson(path: string, meta: Record<string, unknown>): void {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${JSON.stringify({ ...meta, rows: this.rows }, null, 2)}\n`);
  }
}

/** "PASS" when `ok`, otherwise "MISS"; a NaN comparison (missing figure) is a MISS too. */
export function verdict(ok: boolean): Verdict {
  return ok ? 'PASS' : 'MISS';
}

export function fmtSeconds(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 1000).toFixed(2)} s`;
}

export function fmtMs(ms: number): string {
  return `${Math.round(ms)} ms`;
}

export function fmtRatio(r: number): string {
  return `${r.toFixed(2)}x`;
}

/** Decimal units (1 MB = 1,000,000 bytes): the stricter reading of a "1.5 MB" target. */
export function fmtBytes(n: number): string {
  if (n >= 1_000_000) return `${(n / 1_000_000).toFixed(2)} MB`;
  if (n >= 1_000) return `${(n / 1_000).toFixed(1)} kB`;
  return `${n} B`;
}

export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
