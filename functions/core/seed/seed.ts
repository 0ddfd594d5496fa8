/**
 * The seeding entry point shared by the CLI, `migrator dev`, the job and the Lambda handler:
 * load + validate the seeds folder (nothing touches the database if that fails), check the stage's
 * protection, then apply in one transaction (see apply.ts).
 */
import type pg from 'pg';
import { protectedByName } from '../protected-stage.ts';
import { loadSeeds, type SeedSet } from './load.ts';
import { applySeed, type ApplyOptions } from './apply.ts';
import { createAwsClients } from './aws.ts';
import { ProtectedStageError, SeedValidationError } from './errors.ts';
import { inFolder } from './load.ts';
import type { SeedSummary } from './report.ts';

export interface SeedOptions extends ApplyOptions {
  /** Stage whose tenants to seed (stages.yaml). */
  stage: string;
  /** Seeds folder; default 'seeds' (relative to the working directory). */
  dir?: string;
  /** Only these tenant slugs (each must belong to the stage); default all of the stage's tenants. */
  tenants?: readonly string[];
  /** An already loaded seed set (tests, bench); `dir`/`tenants` are then ignored. */
  seedSet?: SeedSet;
  /**
   * What the caller is doing, for the protection check: 'reseed' (an explicit re-apply of named
   * tenants, a staging operation) is refused on a protected stage, like `reset`. Default 'seed'.
   */
  action?: 'seed' | 'reseed';
  /** How messages name the seeds folder (the path the user gave); default file names relative to it. */
  displayDir?: string;
  /** One-line notices of loading (the built-in seed model is used). */
  notice?: (line: string) => void;
}

/**
 * Seeds `client`'s database (a connected client, not inside a transaction). When `aws` is not given,
 * clients are created from the environment (AWS_ENDPOINT_URL_* for the stand-in) and destroyed after.
 */
export async function seed(client: pg.ClientBase, options: SeedOptions): Promise<SeedSummary> {
  const set =
    options.seedSet ??
    loadSeeds({
      dir: options.dir ?? 'seeds',
      stage: options.stage,
      tenants: options.tenants,
      ...(options.notice ? { log: options.notice } : {}),
      ...(options.displayDir ? { displayDir: options.displayDir } : {}),
    });
  if (set.stage.protected || protectedByName(set.stage.name)) {
    if (options.reset && options.reset.length > 0) throw new ProtectedStageError(set.stage.name, 'reset');
    if (options.action === 'reseed') throw new ProtectedStageError(set.stage.name, 'reseed');
  }
  const own = options.aws ? undefined : createAwsClients();
  try {
    return await applySeed(client, set, { ...options, aws: options.aws ?? own });
  } catch (e) {
    // The live-database check and the cast check name seed files too: by the path the user gave.
    throw e instanceof SeedValidationError && set.displayDir ? inFolder(e, set.displayDir) : e;
  } finally {
    own?.kms.destroy();
    own?.secrets.destroy();
  }
}
