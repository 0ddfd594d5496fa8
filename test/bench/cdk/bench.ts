import type { BenchServer } from '../lib/server.ts';
import type { Report } from '../lib/report.ts';

export interface CdkBenchOptions {
  readonly runs: number;
}

export async function benchCdk(_server: BenchServer, report: Report, _o: CdkBenchOptions): Promise<void> {
  report.unavailable('C. CDK (issue 4)', 'migrator asset size', 'infra has not landed', '< 1.5 MB');
}
