/**
 * `pg-tenant-migrator/cdk`: the CDK constructs. Everything exported here is public API (semantic
 * versioning); nothing else under infra/ is.
 */
export {
  DatabaseMigrations,
  MIGRATION_DEFAULTS,
  type DatabaseMigrationsProps,
  type MigrationTimeouts,
  type RunOn,
} from './database-migrations.ts';
export { MigrationObservability, type MigrationObservabilityProps } from './observability.ts';
