/**
 * A warm no-op Update end to end: the bundled handler, imported once, receives two CloudFormation
 * Update events against a migrated database and the stand-in; the second is timed.
 */
import type { BenchServer } from '../lib/server.ts';
import type { Report } from '../lib/report.ts';
import { Unavailable } from '../lib/optional.ts';
import type { MigratorAsset } from './asset.ts';

export async function benchWarmUpdate(_server: BenchServer, _report: Report, _asset: MigratorAsset, _section: string): Promise<void> {
  throw new Unavailable('the migrator handler has not landed (functions/handlers/index.ts is a stub)');
}
