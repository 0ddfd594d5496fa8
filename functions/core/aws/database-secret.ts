/**
 * PostgreSQL connection settings from an RDS-shaped Secrets Manager secret, read at every call so a rotated
 * password is picked up without a redeploy. TLS verifies the server certificate unless explicitly turned off
 * (only the local deploy simulation does that, against a PostgreSQL without TLS).
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { readFileSync } from 'node:fs';
import type pg from 'pg';
import * as z from 'zod';
import { awsClientConfig, awsDeadlineHit, DEFAULT_AWS_BUDGET, type AwsCallBudget } from './clients.ts';

/** `verify-full`: TLS with certificate and host name verification (the default). `off`: plain TCP, local only. */
export type TlsMode = 'verify-full' | 'off';

export interface DatabaseSecretOptions {
  /** Secret ARN or name. */
  secretId: string;
  /** Client to use; a default one (region and endpoint from the environment) otherwise. */
  client?: SecretsManagerClient;
  /** Deadlines of the read (named in the error when one is hit). @default DEFAULT_AWS_BUDGET */
  budget?: AwsCallBudget;
  /** @default 'verify-full' */
  tls?: TlsMode;
  /**
   * PEM file with extra CA certificates (e.g. the RDS global bundle) when NODE_EXTRA_CA_CERTS is not used.
   * @default none: the process's trust store (with NODE_EXTRA_CA_CERTS=/var/runtime/ca-cert.pem on Lambda)
   */
  caFile?: string;
}

/** The fields of an RDS-managed secret that a connection needs (others, like engine, are ignored). */
const RdsSecret = z.object({
  host: z.string().min(1),
  port: z.coerce.number().int().positive().default(5432),
  username: z.string().min(1),
  password: z.string().min(1),
  dbname: z.string().min(1).default('postgres'),
});

let defaultClient: SecretsManagerClient | undefined;

/** Reads the secret and returns a pg client config. Errors name the secret and the fields, never a value. */
export async function databaseConfigFromSecret(options: DatabaseSecretOptions): Promise<pg.ClientConfig> {
  const budget = options.budget ?? DEFAULT_AWS_BUDGET;
  const client = options.client ?? (defaultClient ??= new SecretsManagerClient(awsClientConfig(budget)));
  let text: string | undefined;
  try {
    const out = await client.send(new GetSecretValueCommand({ SecretId: options.secretId }), budget.signal ? { abortSignal: budget.signal } : {});
    text = out.SecretString;
  } catch (e) {
    const name = (e as Error).name ?? 'Error';
    const deadline = awsDeadlineHit(e, budget);
    throw new Error(
      `Could not read the database secret ${options.secretId}: ${deadline ? `Secrets Manager ${deadline}: ` : ''}${name}: ${(e as Error).message?.split('\n')[0]}`,
    );
  }
  if (!text) throw new Error(`Database secret ${options.secretId} has no SecretString (binary secrets are not supported)`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // Deliberately not echoing the parser message: it can quote the secret text.
    throw new Error(`Database secret ${options.secretId} is not JSON; expected the RDS shape {host, port, username, password, dbname}`);
  }
  const parsed = RdsSecret.safeParse(json);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(root)'))].join(', ');
    throw new Error(`Database secret ${options.secretId} is not RDS-shaped: bad or missing field(s) ${fields}; expected {host, port, username, password, dbname}`);
  }
  const s = parsed.data;
  return {
    host: s.host,
    port: s.port,
    user: s.username,
    password: s.password,
    database: s.dbname,
    ssl: sslOptions(options.tls ?? 'verify-full', options.caFile),
  };
}

export function sslOptions(mode: TlsMode, caFile?: string): pg.ClientConfig['ssl'] {
  if (mode === 'off') return false;
  return {
    rejectUnauthorized: true,
    ...(caFile ? { ca: readFileSync(caFile, 'utf8') } : {}),
  };
}

/** Parses DB_TLS-style values; anything but an explicit off means verify. */
export function tlsModeFrom(value: string | undefined): TlsMode {
  return value === 'off' || value === 'disable' ? 'off' : 'verify-full';
}
