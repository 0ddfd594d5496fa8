import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateKeyCommand, DecryptCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateSecretCommand, GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { startAwsStandIn, type AwsStandIn } from '../../local/aws-standin/index.ts';

let standIn: AwsStandIn;
const lines: string[] = [];
let kms: KMSClient;
let keyId: string;

beforeAll(async () => {
  standIn = await startAwsStandIn({ log: (line) => lines.push(line) });
  kms = new KMSClient({ ...standIn.clientConfig(), maxAttempts: 1 });
  keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
});
afterAll(async () => {
  kms?.destroy();
  await standIn?.stop();
});

describe('test hooks', () => {
  it('counts calls per X-Amz-Target and resets', async () => {
    standIn.resetCalls();
    expect(standIn.callCount('TrentService.Encrypt')).toBe(0);
    expect(standIn.calls).toEqual({});
    const a = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('a') }));
    await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('b') }));
    await kms.send(new DecryptCommand({ CiphertextBlob: a.CiphertextBlob }));
    expect(standIn.calls).toEqual({ 'TrentService.Encrypt': 2, 'TrentService.Decrypt': 1 });
    expect(standIn.callCount('TrentService.Encrypt')).toBe(2);
    standIn.resetCalls();
    expect(standIn.callCount('TrentService.Encrypt')).toBe(0);
  });

  it('injects ThrottlingException that the SDK surfaces by name, for exactly the requested number of calls', async () => {
    standIn.resetCalls();
    standIn.inject('TrentService.Encrypt', 'ThrottlingException', 2);
    for (let i = 0; i < 2; i++) {
      const err = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })).catch((e: unknown) => e as Error & { $metadata?: { httpStatusCode?: number } });
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).name).toBe('ThrottlingException');
    }
    // Other operations are unaffected, and the third Encrypt succeeds.
    await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }));
    expect(standIn.callCount('TrentService.Encrypt')).toBe(3);
  });

  it('lets the SDK retry an injected throttle when the client allows retries', async () => {
    const retrying = new KMSClient({ ...standIn.clientConfig(), maxAttempts: 3 });
    standIn.resetCalls();
    standIn.inject('TrentService.Encrypt', 'ThrottlingException', 1);
    const out = await retrying.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }));
    expect(out.$metadata.attempts).toBe(2);
    expect(standIn.callCount('TrentService.Encrypt')).toBe(2);
    retrying.destroy();
  });

  it('injects any AWS error into Secrets Manager calls too, and clears injections', async () => {
    const sm = new SecretsManagerClient({ ...standIn.clientConfig(), maxAttempts: 1 });
    await sm.send(new CreateSecretCommand({ Name: 'hooks/inject', SecretString: 'x' }));
    standIn.inject('secretsmanager.GetSecretValue', 'AccessDeniedException', 1, 'Access to KMS is not allowed');
    await expect(sm.send(new GetSecretValueCommand({ SecretId: 'hooks/inject' }))).rejects.toMatchObject({ name: 'AccessDeniedException', message: 'Access to KMS is not allowed' });
    standIn.inject('secretsmanager.GetSecretValue', 'InternalServiceError', 5);
    standIn.clearInjections();
    expect((await sm.send(new GetSecretValueCommand({ SecretId: 'hooks/inject' }))).SecretString).toBe('x');
    sm.destroy();
  });

  it('refuses to inject into an operation it does not serve', () => {
    expect(() => standIn.inject('TrentService.Encrpyt', 'ThrottlingException')).toThrow(/does not serve TrentService.Encrpyt/);
    expect(() => standIn.inject('TrentService.Encrypt', 'not an error')).toThrow(/not an AWS error name/);
  });

  it('never writes secret values or plaintexts to its log', async () => {
    const sm = new SecretsManagerClient({ ...standIn.clientConfig(), maxAttempts: 1 });
    const value = 'hooks-log-canary-5d1c';
    lines.length = 0;
    await sm.send(new CreateSecretCommand({ Name: 'hooks/log', SecretString: value }));
    await sm.send(new PutSecretValueCommand({ SecretId: 'hooks/log', SecretString: `${value}-2` }));
    await sm.send(new GetSecretValueCommand({ SecretId: 'hooks/log' }));
    const enc = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(value) }));
    await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { wrong: 'context' } })).catch(() => undefined);
    expect(lines.length).toBeGreaterThanOrEqual(5);
    expect(lines.some((l) => l.startsWith('secretsmanager.GetSecretValue 200'))).toBe(true);
    expect(lines.some((l) => l.includes('InvalidCiphertextException'))).toBe(true);
    const all = lines.join('\n');
    expect(all).not.toContain(value);
    expect(all).not.toContain(Buffer.from(value).toString('base64'));
    sm.destroy();
  });
});
