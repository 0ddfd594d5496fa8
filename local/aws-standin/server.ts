/**
 * The HTTP server: awsJson1_1 over node:http. POST / with `X-Amz-Target: TrentService.<Op>` (KMS) or
 * `secretsmanager.<Op>`, a SigV4-signed JSON body; answers JSON, or a 4xx/5xx with
 * `{"__type", "message"}` and `x-amzn-ErrorType`. Test hooks (call counters, injected failures) are
 * programmatic only, never reachable over HTTP.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { AwsError } from './errors.ts';
import { KmsService } from './kms.ts';
import { SecretsService } from './secrets.ts';
import { StateStore } from './state.ts';
import { acquireStateLock } from './state-lock.ts';
import { verifySignature, type StandInCredentials } from './sigv4.ts';

/** Clearly fake development credentials; the stand-in accepts only these unless told otherwise. */
export const DEV_CREDENTIALS: Readonly<StandInCredentials> = Object.freeze({ accessKeyId: 'LOCALSTANDIN', secretAccessKey: 'localstandinsecret' });
export const DEV_REGION = 'us-east-1';
export const DEV_ACCOUNT = '000000000000';

export interface AwsStandInOptions {
  /** TCP port on 127.0.0.1; default: a free port. */
  port?: number;
  /**
   * JSON file keeping keys and secrets across restarts; default: in memory only. Only one stand-in
   * (in any process) uses a state file at a time: a second one waits for the first to stop.
   */
  stateFile?: string;
  /** How long to wait for another process's stand-in on the same state file; default 60 s. */
  stateLockWaitMs?: number;
  /** The one access key accepted; default {@link DEV_CREDENTIALS}. */
  credentials?: StandInCredentials;
  /** Default `us-east-1`; requests scoped to another region are rejected. */
  region?: string;
  /** Default `000000000000`; appears in ARNs. */
  account?: string;
  /** Receives one line per request (target, status, error type, ms). Never bodies, so never secret values. */
  log?: (line: string) => void;
}

export interface AwsStandIn {
  /** `http://127.0.0.1:<port>`: the `endpoint` option, or AWS_ENDPOINT_URL_KMS / _SECRETS_MANAGER. */
  readonly endpoint: string;
  readonly port: number;
  readonly region: string;
  readonly account: string;
  readonly credentials: Readonly<StandInCredentials>;
  /** Authenticated calls per X-Amz-Target (e.g. `TrentService.Encrypt`), live; injected failures count too. */
  readonly calls: Readonly<Record<string, number>>;
  /** `calls[target] ?? 0`. */
  callCount(target: string): number;
  /** Zeroes every counter. */
  resetCalls(): void;
  /**
   * Makes the next `times` calls of `target` fail with `errorType` (e.g. `ThrottlingException`) before
   * doing anything. Throws for a target the stand-in does not serve, so typos do not pass silently.
   */
  inject(target: string, errorType: string, times?: number, message?: string): void;
  /** Drops every pending injected failure. */
  clearInjections(): void;
  /** Same as {@link clientEnv}(this): environment for SDK clients built without options. */
  clientEnv(): Record<string, string>;
  /** Config for an in-process SDK client: `new KMSClient({ ...standIn.clientConfig(), maxAttempts: 1 })`. */
  clientConfig(): { endpoint: string; region: string; credentials: StandInCredentials };
  /** Resolves once the state file holds every change made so far. */
  flush(): Promise<void>;
  /** Closes the server (and open connections) and flushes the state file. */
  stop(): Promise<void>;
}

const SERVICES = { TrentService: 'kms', secretsmanager: 'secretsmanager' } as const;
type Prefix = keyof typeof SERVICES;
/** Request bodies here are small JSON documents; this bounds memory against a runaway client. */
const MAX_BODY_BYTES = 1024 * 1024;

export async function startAwsStandIn(options: AwsStandInOptions = {}): Promise<AwsStandIn> {
  const region = options.region ?? DEV_REGION;
  const account = options.account ?? DEV_ACCOUNT;
  const credentials = Object.freeze({ ...(options.credentials ?? DEV_CREDENTIALS) });
  const log = options.log ?? (() => {});
  const lock = options.stateFile
    ? await acquireStateLock(options.stateFile, {
        ...(options.stateLockWaitMs !== undefined ? { waitMs: options.stateLockWaitMs } : {}),
        onWait: (pid) => log(`waiting for the AWS stand-in of process ${pid} to release ${options.stateFile}`),
      })
    : undefined;
  let store: StateStore;
  try {
    store = await StateStore.open(options.stateFile);
  } catch (error) {
    lock?.release();
    throw error;
  }
  const kms = new KmsService(store, region, account);
  const secrets = new SecretsService(store, kms, region, account);
  const handlers: Record<Prefix, Record<string, (input: Record<string, unknown>) => unknown>> = {
    TrentService: kms.handlers,
    secretsmanager: secrets.handlers,
  };
  const calls: Record<string, number> = {};
  const injections = new Map<string, Array<{ type: string; message: string }>>();

  const splitTarget = (target: string): { prefix: Prefix; op: string } | null => {
    const dot = target.indexOf('.');
    const prefix = target.slice(0, dot) as Prefix;
    const op = target.slice(dot + 1);
    return dot > 0 && Object.hasOwn(handlers, prefix) && Object.hasOwn(handlers[prefix], op) ? { prefix, op } : null;
  };

  async function handle(req: IncomingMessage, body: Buffer): Promise<unknown> {
    const target = String(req.headers['x-amz-target'] ?? '');
    const parts = splitTarget(target);
    if (req.method !== 'POST' || !parts) {
      throw new AwsError('UnknownOperationException', `The AWS stand-in does not serve ${req.method} ${target || '(no X-Amz-Target)'}.`);
    }
    await verifySignature(
      { method: req.method, url: req.url ?? '/', headers: req.headers, body },
      { credentials, region, service: SERVICES[parts.prefix] },
    );
    calls[target] = (calls[target] ?? 0) + 1;
    const injected = injections.get(target)?.shift();
    if (injected) throw new AwsError(injected.type, injected.message);
    let input: unknown;
    try {
      input = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch {
      throw new AwsError('SerializationException', 'The request body is not valid JSON.');
    }
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new AwsError('SerializationException', 'The request body must be a JSON object.');
    // Handlers are synchronous, so each request's read-modify-write of the state is atomic.
    return handlers[parts.prefix][parts.op]!(input as Record<string, unknown>);
  }

  function respond(res: ServerResponse, status: number, payload: unknown, errorType?: string): void {
    const text = JSON.stringify(payload);
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': Buffer.byteLength(text),
      'x-amzn-requestid': randomUUID(),
      ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
    });
    res.end(text);
  }

  const server = createServer((req, res) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '-');
      const work = tooLarge
        ? Promise.reject(new AwsError('ValidationException', `Request body exceeds ${MAX_BODY_BYTES} bytes.`, 413))
        : handle(req, Buffer.concat(chunks));
      work.then(
        (result) => {
          respond(res, 200, result ?? {});
          log(`${target} 200 ${Date.now() - started}ms`);
        },
        (err: unknown) => {
          const error =
            err instanceof AwsError
              ? err
              : new AwsError(target.startsWith('TrentService.') ? 'KMSInternalException' : 'InternalServiceError', 'The AWS stand-in failed; see its log.', 500);
          respond(res, error.status, { __type: error.type, message: error.message }, error.type);
          // Messages name keys, secrets and versions, never values; unexpected errors show their own message.
          log(`${target} ${error.status} ${error.type} ${Date.now() - started}ms${err instanceof AwsError ? '' : ` (${(err as Error)?.message})`}`);
        },
      );
    });
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    lock?.release();
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  const endpoint = `http://127.0.0.1:${port}`;
  let stopped: Promise<void> | null = null;

  return {
    endpoint,
    port,
    region,
    account,
    credentials,
    calls,
    callCount: (target) => calls[target] ?? 0,
    resetCalls: () => {
      for (const k of Object.keys(calls)) delete calls[k];
    },
    inject: (target, errorType, times = 1, message) => {
      if (!splitTarget(target)) throw new Error(`inject: the AWS stand-in does not serve ${target} (use e.g. TrentService.Encrypt or secretsmanager.GetSecretValue)`);
      if (!/^[A-Za-z][A-Za-z0-9]*$/.test(errorType)) throw new Error(`inject: ${errorType} is not an AWS error name`);
      const queue = injections.get(target) ?? [];
      for (let i = 0; i < times; i++) queue.push({ type: errorType, message: message ?? `Injected ${errorType} (AWS stand-in test hook)` });
      injections.set(target, queue);
    },
    clearInjections: () => injections.clear(),
    clientConfig: () => ({ endpoint, region, credentials: { ...credentials } }),
    clientEnv: () => clientEnv({ endpoint, region, credentials }),
    flush: () => store.flush(),
    stop: () =>
      (stopped ??= (async () => {
        await new Promise<void>((resolve, reject) => {
          server.close((err) => (err ? reject(err) : resolve()));
          server.closeAllConnections();
        });
        try {
          await store.flush();
        } finally {
          lock?.release();
        }
      })()),
  };
}

/** Environment for a child process whose unchanged SDK clients should reach the stand-in. */
export function clientEnv(standIn: Pick<AwsStandIn, 'endpoint' | 'region' | 'credentials'>): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_KMS: standIn.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: standIn.endpoint,
    AWS_ACCESS_KEY_ID: standIn.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: standIn.credentials.secretAccessKey,
    AWS_REGION: standIn.region,
  };
}
