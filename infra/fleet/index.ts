export {
  DatabaseFleetMigrations,
  FLEET_DEFAULTS,
  type DatabaseFleetMigrationsProps,
  type FleetTargetsProps,
  type CanaryProps,
  type FleetOnDeploy,
  type FleetMetricName,
  type LongRunningProps,
  type FleetSeedingProps,
} from './database-fleet-migrations.ts';
export { FleetObservability, type FleetObservabilityProps } from './fleet-observability.ts';
