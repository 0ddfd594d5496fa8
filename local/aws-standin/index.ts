/**
 * Local stand-in for AWS KMS and Secrets Manager (development and tests only; never bundled into
 * a Lambda function, and nothing under functions/ imports it).
 */
export { startAwsStandIn, clientEnv, DEV_CREDENTIALS, DEV_REGION, DEV_ACCOUNT, type AwsStandIn, type AwsStandInOptions } from './server.ts';
export { bootstrapDev, DEV_KEY_ALIAS, DEFAULT_DEV_SECRETS, type BootstrapDevOptions, type DevBootstrap, type DevSecret } from './bootstrap.ts';
export { startDevStandIn, DEV_STATE_FILE, type DevStandIn } from './dev.ts';
export type { StandInCredentials } from './sigv4.ts';
export { AwsError } from './errors.ts';
