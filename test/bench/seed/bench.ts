import type { BenchServer } from '../lib/server.ts';
import type { Report } from '../lib/report.ts';

export interface SeedBenchOptions {
  readonly tenants: number;
  readonly psql: string;
}

export async function benchSeed(_server: BenchServer, report: Report, o: SeedBenchOptions): Promise<void> {
  report.unavailable('B. Seeding (issue 3)', `seed ${o.tenants} tenants`, 'seeding has not landed', '<= 60 s');
}
