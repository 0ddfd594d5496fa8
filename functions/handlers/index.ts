/**
 * Lambda entry (one bundle, two handlers): `index.onEvent` is the custom resource behind
 * Custom::DatabaseMigrations, `index.operations` the on-demand entry used by `migrator invoke`.
 */
export { onEvent } from './custom-resource.ts';
export { operations } from './operations.ts';
