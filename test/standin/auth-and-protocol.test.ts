import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignatureV4 } from '@smithy/signature-v4';
import { CreateKeyCommand, KMSClient, ListAliasesCommand } from '@aws-sdk/client-kms';
import { ListSecretsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { startAwsStandIn, type AwsStandIn } from '../../local/aws-standin/index.ts';
import { NodeSha256 } from '../../local/aws-standin/sigv4.ts';

let standIn: AwsStandIn;

beforeAll(async () => {
  standIn = await startAwsStandIn();
});
afterAll(async () => {
  await standIn?.stop();
});

interface RawOptions {
  target: string;
  body: string;
  service?: string;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  signingDate?: Date;
  /** Change the body after signing. */
  tamper?: (body: string) => string;
  unsigned?: boolean;
  /** Sign with an x-amz-content-sha256 header (default) or, like the KMS client, without. */
  applyChecksum?: boolean;
}

/** A hand-signed awsJson1_1 request, to check what the SDK never sends. */
async function raw(o: RawOptions): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
  const url = new URL(standIn.endpoint);
  const headers: Record<string, string> = {
    host: url.host,
    'content-type': 'application/x-amz-json-1.1',
    'x-amz-target': o.target,
  };
  let sent = headers;
  if (!o.unsigned) {
    const signer = new SignatureV4({
      credentials: o.credentials ?? standIn.credentials,
      region: o.region ?? 'us-east-1',
      service: o.service ?? (o.target.startsWith('TrentService.') ? 'kms' : 'secretsmanager'),
      sha256: NodeSha256,
      applyChecksum: o.applyChecksum ?? true,
    });
    const signed = await signer.sign(
      { method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/', query: {}, headers, body: o.body },
      { signingDate: o.signingDate ?? new Date() },
    );
    sent = signed.headers as Record<string, string>;
  }
  const { host: _host, ...forFetch } = sent;
  const res = await fetch(`${standIn.endpoint}/`, { method: 'POST', headers: forFetch, body: o.tamper ? o.tamper(o.body) : o.body });
  return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> };
}

describe('SigV4 verification', () => {
  it('accepts a correctly signed hand-made request', async () => {
    const r = await raw({ target: 'TrentService.ListAliases', body: '{}' });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/x-amz-json-1.1');
    expect(r.json.Aliases).toEqual(expect.any(Array));
  });

  it('rejects a request without Authorization', async () => {
    const r = await raw({ target: 'TrentService.ListAliases', body: '{}', unsigned: true });
    expect(r.status).toBe(403);
    expect(r.json.__type).toBe('MissingAuthenticationTokenException');
    expect(r.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException');
  });

  it('rejects a body changed after signing, with or without a signed payload hash header', async () => {
    for (const applyChecksum of [true, false]) {
      const r = await raw({ target: 'TrentService.CreateKey', body: '{"Description":"a"}', tamper: () => '{"Description":"b"}', applyChecksum });
      expect(r.status).toBe(400);
      expect(r.json.__type).toBe('InvalidSignatureException');
    }
  });

  it('rejects a signature scoped to another service or region, or too old', async () => {
    expect((await raw({ target: 'TrentService.ListAliases', body: '{}', service: 'secretsmanager' })).json.__type).toBe('InvalidSignatureException');
    expect((await raw({ target: 'TrentService.ListAliases', body: '{}', region: 'eu-west-1' })).json.__type).toBe('InvalidSignatureException');
    const old = await raw({ target: 'TrentService.ListAliases', body: '{}', signingDate: new Date(Date.now() - 20 * 60_000) });
    expect(old.json.__type).toBe('InvalidSignatureException');
    expect(String(old.json.message)).toMatch(/expired/);
  });

  it('rejects the real SDK signing with a wrong secret key (InvalidSignatureException) or an unknown access key (UnrecognizedClientException)', async () => {
    const wrongSecret = new KMSClient({ ...standIn.clientConfig(), credentials: { accessKeyId: 'LOCALSTANDIN', secretAccessKey: 'not-the-secret' }, maxAttempts: 1 });
    const err1 = await wrongSecret.send(new CreateKeyCommand({})).catch((e: unknown) => e as Error);
    expect((err1 as Error).name).toBe('InvalidSignatureException');
    const unknownKey = new SecretsManagerClient({ ...standIn.clientConfig(), credentials: { accessKeyId: 'AKIAUNKNOWN', secretAccessKey: 'localstandinsecret' }, maxAttempts: 1 });
    const err2 = await unknownKey.send(new ListSecretsCommand({})).catch((e: unknown) => e as Error);
    expect((err2 as Error).name).toBe('UnrecognizedClientException');
    wrongSecret.destroy();
    unknownKey.destroy();
  });

  it('does not count rejected requests as calls', async () => {
    standIn.resetCalls();
    await raw({ target: 'TrentService.CreateKey', body: '{}', credentials: { accessKeyId: 'LOCALSTANDIN', secretAccessKey: 'wrong' } });
    expect(standIn.callCount('TrentService.CreateKey')).toBe(0);
  });

  it('accepts configured credentials and then refuses the default dev ones', async () => {
    const custom = await startAwsStandIn({ credentials: { accessKeyId: 'OTHERKEY', secretAccessKey: 'other-secret' } });
    try {
      const good = new KMSClient({ ...custom.clientConfig(), maxAttempts: 1 });
      expect((await good.send(new ListAliasesCommand({}))).Aliases).toEqual([]);
      const dev = new KMSClient({ endpoint: custom.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'LOCALSTANDIN', secretAccessKey: 'localstandinsecret' }, maxAttempts: 1 });
      await expect(dev.send(new ListAliasesCommand({}))).rejects.toMatchObject({ name: 'UnrecognizedClientException' });
      good.destroy();
      dev.destroy();
    } finally {
      await custom.stop();
    }
  });
});

describe('awsJson1_1 protocol', () => {
  it('answers an unknown operation with UnknownOperationException', async () => {
    const r = await raw({ target: 'TrentService.LaunchRocket', body: '{}', service: 'kms' });
    expect(r.status).toBe(400);
    expect(r.json.__type).toBe('UnknownOperationException');
  });

  it('answers malformed JSON with SerializationException', async () => {
    const r = await raw({ target: 'TrentService.CreateKey', body: '{not json' });
    expect(r.json.__type).toBe('SerializationException');
  });

  it('returns timestamps as epoch seconds and errors with __type, message and x-amzn-ErrorType', async () => {
    const created = await raw({ target: 'TrentService.CreateKey', body: '{}' });
    const date = (created.json.KeyMetadata as Record<string, unknown>).CreationDate;
    expect(typeof date).toBe('number');
    expect(Math.abs((date as number) * 1000 - Date.now())).toBeLessThan(60_000);
    const missing = await raw({ target: 'TrentService.DescribeKey', body: '{"KeyId":"alias/none"}' });
    expect(missing.status).toBe(400);
    expect(missing.headers.get('x-amzn-errortype')).toBe('NotFoundException');
    expect(missing.json).toEqual({ __type: 'NotFoundException', message: expect.stringContaining('alias/none') });
  });

  it('names the missing member in ValidationException like AWS', async () => {
    const r = await raw({ target: 'TrentService.Encrypt', body: '{"Plaintext":"eA=="}' });
    expect(r.json.__type).toBe('ValidationException');
    expect(r.json.message).toBe("1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null");
  });
});
