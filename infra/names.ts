/**
 * Names the sample app gives each stage's resources, shared by the stack (which sets them) and
 * `migrator invoke` (which finds them). No imports, so the CLI can use it without loading aws-cdk-lib.
 */

/** The sample app's stack for a stage. */
export function stackName(stage: string) {
  return `PgTenantMigrator-${stage}`;
}

/** Conventional operations function name, so `migrator invoke --stage S` finds it without a stack lookup. */
export function operationsFunctionName(stage: string) {
  return `pg-tenant-migrator-${stage}-ops`;
}
