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
export {
  DatabaseFleetMigrations,
  FLEET_DEFAULTS,
  FleetObservability,
  type CanaryProps,
  type DatabaseFleetMigrationsProps,
  type FleetMetricName,
  type FleetObservabilityProps,
  type FleetOnDeploy,
  type FleetTargetsProps,
  type FleetSeedingProps,
  type LongRunningProps,
} from './fleet/index.ts';
