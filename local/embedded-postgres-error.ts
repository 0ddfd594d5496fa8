import { MigratorError } from '../functions/core/errors.ts';

/**
 * The embedded PostgreSQL could not be set up or started (port in use, binaries missing, initdb failed...).
 * Its message is one paragraph saying what happened and what to do; the CLI prints it and exits 1.
 */
export class EmbeddedPostgresError extends MigratorError {
  override name = 'EmbeddedPostgresError';
}
