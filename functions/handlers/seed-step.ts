/**
 * The seed step of a deploy-time run, shared by the single database's custom resource and the fleet's
 * per-target runner: `seed()` with the run's id and the same invocation deadlines as the migrations.
 */
import type { SeedStep } from '../core/job.ts';
import { createAwsClients, type AwsClientOptions, type SeedAwsClients } from '../core/seed/aws.ts';
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

/**
 * Runs `fn` with the seed's KMS and Secrets Manager clients (drawing on the invocation's `budget`) when the
 * function has seeds, and destroys them after, whatever happens.
 */
export async function withSeedClients<T>(enabled: boolean, budget: NonNullable<AwsClientOptions['budget']>, fn: (aws: SeedAwsClients | undefined) => Promise<T>): Promise<T> {
  const aws = enabled ? createAwsClients({ budget }) : undefined;
  try {
    return await fn(aws);
  } finally {
    aws?.kms.destroy();
    aws?.secrets.destroy();
  }
}
