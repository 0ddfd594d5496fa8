/**
 * SigV4 verification: parse the Authorization header, check the credential scope, then re-sign the
 * received request with @smithy/signature-v4 (the SDK's own signer) and compare signatures.
 */
import { createHash, createHmac, timingSafeEqual, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Checksum, HttpRequest, SourceData } from '@smithy/types';
import { AwsError } from './errors.ts';

export interface StandInCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface ReceivedRequest {
  method: string;
  /** Path and query as received, e.g. `/`. */
  url: string;
  /** Node's lower-cased header map. */
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** AWS rejects requests signed more than 15 minutes away from its clock. */
const MAX_SKEW_MS = 15 * 60 * 1000;

/** node:crypto behind the hash interface the signer expects (HMAC when given a secret). */
export class NodeSha256 implements Checksum {
  private hash: Hash | Hmac;
  constructor(private readonly secret?: SourceData) {
    this.hash = this.fresh();
  }
  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(this.secret));
  }
  update(data: Uint8Array): void {
    this.hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.fresh();
  }
}

function toBuffer(data: SourceData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data as ArrayBuffer);
}

const header = (headers: ReceivedRequest['headers'], name: string): string | undefined => {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
};

function parseAmzDate(value: string): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return null;
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
}

/** Throws the AwsError AWS would answer with; returns the access key id on success. */
export async function verifySignature(
  req: ReceivedRequest,
  opts: { credentials: StandInCredentials; region: string; service: string; now?: Date },
): Promise<string> {
  const auth = header(req.headers, 'authorization');
  if (!auth) throw new AwsError('MissingAuthenticationTokenException', 'Missing Authentication Token');
  const m = /^AWS4-HMAC-SHA256 Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$/.exec(auth.trim());
  if (!m) throw new AwsError('IncompleteSignatureException', 'Authorization header requires AWS4-HMAC-SHA256 with Credential, SignedHeaders and Signature.');
  const [, credential, signedHeaderList, signature] = m as unknown as [string, string, string, string];
  const scope = credential.split('/');
  if (scope.length !== 5 || scope[4] !== 'aws4_request') throw new AwsError('IncompleteSignatureException', `Credential is malformed: ${credential}`);
  const [accessKeyId, scopeDate, scopeRegion, scopeService] = scope as [string, string, string, string, string];
  if (accessKeyId !== opts.credentials.accessKeyId) {
    throw new AwsError('UnrecognizedClientException', 'The security token included in the request is invalid.');
  }
  if (scopeRegion !== opts.region) throw new AwsError('InvalidSignatureException', `Credential should be scoped to a valid region (this stand-in serves ${opts.region}).`);
  if (scopeService !== opts.service) throw new AwsError('InvalidSignatureException', `Credential should be scoped to correct service: '${opts.service}'.`);

  const amzDate = header(req.headers, 'x-amz-date');
  const signingDate = amzDate ? parseAmzDate(amzDate) : null;
  if (!amzDate || !signingDate) throw new AwsError('IncompleteSignatureException', 'The request must carry a valid X-Amz-Date header.');
  if (amzDate.slice(0, 8) !== scopeDate) throw new AwsError('InvalidSignatureException', 'Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.');
  const now = opts.now ?? new Date();
  if (Math.abs(now.getTime() - signingDate.getTime()) > MAX_SKEW_MS) {
    throw new AwsError('InvalidSignatureException', `Signature expired: ${amzDate} is now earlier or later than 15 minutes from the server time.`);
  }

  const signed = signedHeaderList.split(';');
  if (!signed.includes('host')) throw new AwsError('InvalidSignatureException', "'Host' must be a signed header.");
  const headers: Record<string, string> = {};
  for (const name of signed) {
    if (name === 'x-amz-date') continue; // the signer writes it from signingDate
    const value = header(req.headers, name);
    if (value === undefined) throw new AwsError('InvalidSignatureException', `Signed header ${name} is missing from the request.`);
    headers[name] = value;
  }
  // A client-supplied payload hash is trusted by the signer, so check it against the body ourselves.
  const claimed = headers['x-amz-content-sha256'];
  if (claimed !== undefined && claimed !== 'UNSIGNED-PAYLOAD' && claimed !== createHash('sha256').update(req.body).digest('hex')) {
    throw new AwsError('InvalidSignatureException', 'The provided x-amz-content-sha256 header does not match what was computed.');
  }

  const [path, rawQuery = ''] = req.url.split('?', 2) as [string, string?];
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(rawQuery)) {
    const prev = query[k];
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  const request: HttpRequest = {
    method: req.method,
    protocol: 'http:',
    hostname: (headers.host ?? '').split(':')[0] ?? '',
    path: decodeURIComponent(path),
    query,
    headers,
    body: req.body,
  };
  const signer = new SignatureV4({
    credentials: { accessKeyId, secretAccessKey: opts.credentials.secretAccessKey },
    region: scopeRegion,
    service: scopeService,
    sha256: NodeSha256,
    applyChecksum: false,
  });
  const resigned = await signer.sign(request, { signingDate, signableHeaders: new Set(signed) });
  const expected = /Signature=([0-9a-f]{64})/.exec(String(resigned.headers.authorization))?.[1] ?? '';
  if (expected.length !== signature.length || !timingSafeEqual(Buffer.from(expected), Buffer.from(signature))) {
    throw new AwsError(
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  }
  return accessKeyId;
}
