/**
 * KMS and Secrets Manager clients for seeding. Configured from the environment like any SDK client:
 * region from AWS_REGION, endpoints from AWS_ENDPOINT_URL_KMS / AWS_ENDPOINT_URL_SECRETS_MANAGER
 * (the local stand-in) or AWS's own, credentials from the default chain.
 */
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { awsClientConfig, bindAbort, DEFAULT_AWS_BUDGET, type AwsCallBudget } from '../aws/clients.ts';

export interface SeedAwsClients {
  kms: KMSClient;
  secrets: SecretsManagerClient;
}

export interface AwsClientOptions {
  /** SDK attempts per call, retries of throttling included; default 4 (or the budget's). */
  maxAttempts?: number;
  /** Connect/request timeouts and the abort signal of every call; default DEFAULT_AWS_BUDGET, no signal. */
  budget?: AwsCallBudget;
  /** Region; default the SDK's own resolution (AWS_REGION, then the profile). */
  region?: string;
}

export function createAwsClients(options: AwsClientOptions = {}): SeedAwsClients {
  const budget = options.budget ?? { ...DEFAULT_AWS_BUDGET, maxAttempts: options.maxAttempts ?? 4 };
  const common = { ...(options.region ? { region: options.region } : {}), ...awsClientConfig(budget) };
  return { kms: bindAbort(new KMSClient(common), budget.signal), secrets: bindAbort(new SecretsManagerClient(common), budget.signal) };
}

/** The AWS error name (`ThrottlingException`, ...) of an SDK error, or undefined. */
export function awsErrorName(e: unknown): string | undefined {
  if (e && typeof e === 'object' && 'name' in e && typeof (e as { name: unknown }).name === 'string') {
    const name = (e as { name: string }).name;
    return name === 'Error' ? undefined : name;
  }
  return undefined;
}

/** A one-line description of an AWS error without its request details (which never hold secrets anyway). */
export function awsErrorText(e: unknown): string {
  const name = awsErrorName(e) ?? 'Error';
  const message = e instanceof Error ? e.message.split('\n')[0] : String(e);
  return `${name}: ${message}`;
}
