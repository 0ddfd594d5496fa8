/**
 * The seed step of a deploy-time run, shared by the single database's custom resource and the fleet's
 * per-target runner: `seed()` with the run's id and the same invocation deadlines as the migrations.
 */
import type { SeedStep } from '../core/job.ts';
import { seed, type SeedOptions } from '../core/seed/seed.ts';

export interface DeploySeedStepOptions
  extends Pick<SeedOptions, 'stage' | 'seedSet' | 'dir' | 'tenants' | 'kmsKeyId' | 'actor' | 'aws' | 'secretNamespace' | 'log'> {
  /** The run's deadlines (the seed waits no longer than the migrations may). */
  readonly deadlines: Pick<SeedOptions, 'lockWaitTimeoutMs' | 'lockTimeoutMs' | 'statementTimeoutMs'>;
}

export function deploySeedStep(o: DeploySeedStepOptions): SeedStep {
  const { deadlines, ...rest } = o;
  return (client, runId) =>
    seed(client, {
      ...rest,
      runId,
      lockWaitTimeoutMs: deadlines.lockWaitTimeoutMs,
      lockTimeoutMs: deadlines.lockTimeoutMs,
      statementTimeoutMs: deadlines.statementTimeoutMs,
    });
}
