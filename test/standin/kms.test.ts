import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  IncorrectKeyException,
  InvalidCiphertextException,
  KMSClient,
  ListAliasesCommand,
  AlreadyExistsException,
  DisabledException,
  NotFoundException,
} from '@aws-sdk/client-kms';
import { startAwsStandIn, type AwsStandIn } from '../../local/aws-standin/index.ts';

let standIn: AwsStandIn;
let kms: KMSClient;

beforeAll(async () => {
  standIn = await startAwsStandIn();
  kms = new KMSClient({ ...standIn.clientConfig(), maxAttempts: 1 });
});
afterAll(async () => {
  kms?.destroy();
  await standIn?.stop();
});

async function newKey(alias?: string): Promise<{ keyId: string; arn: string }> {
  const { KeyMetadata } = await kms.send(new CreateKeyCommand({ Description: 'test key' }));
  if (alias) await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: KeyMetadata!.KeyId! }));
  return { keyId: KeyMetadata!.KeyId!, arn: KeyMetadata!.Arn! };
}

const text = (b: Uint8Array | undefined): string => Buffer.from(b!).toString('utf8');

describe('KMS stand-in through the real KMSClient', () => {
  it('creates a key whose metadata looks like AWS', async () => {
    const { KeyMetadata: m } = await kms.send(new CreateKeyCommand({ Description: 'meta' }));
    expect(m!.KeyId).toMatch(/^[0-9a-f-]{36}$/);
    expect(m!.Arn).toBe(`arn:aws:kms:us-east-1:000000000000:key/${m!.KeyId}`);
    expect(m!.CreationDate).toBeInstanceOf(Date);
    expect(Math.abs(m!.CreationDate!.getTime() - Date.now())).toBeLessThan(60_000);
    expect(m!.KeyState).toBe('Enabled');
    expect(m!.KeySpec).toBe('SYMMETRIC_DEFAULT');
    expect(m!.Description).toBe('meta');
  });

  it('round-trips Encrypt/Decrypt with an encryption context, addressing the key by id, ARN, alias and alias ARN', async () => {
    const { keyId, arn } = await newKey('alias/roundtrip');
    const context = { tenant: 't-1', purpose: 'llm:default' };
    for (const ref of [keyId, arn, 'alias/roundtrip', 'arn:aws:kms:us-east-1:000000000000:alias/roundtrip']) {
      const enc = await kms.send(new EncryptCommand({ KeyId: ref, Plaintext: Buffer.from(`secret via ${ref}`), EncryptionContext: context }));
      expect(enc.KeyId).toBe(arn);
      expect(Buffer.from(enc.CiphertextBlob!).includes(Buffer.from(`secret via ${ref}`))).toBe(false);
      // No KeyId: the blob names its key, as in real KMS. Context key order does not matter.
      const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { purpose: 'llm:default', tenant: 't-1' } }));
      expect(text(dec.Plaintext)).toBe(`secret via ${ref}`);
      expect(dec.KeyId).toBe(arn);
    }
  });

  it('encrypts the same plaintext to a different ciphertext each time (random IV)', async () => {
    const { keyId } = await newKey();
    const a = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('same') }));
    const b = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('same') }));
    expect(Buffer.from(a.CiphertextBlob!).equals(Buffer.from(b.CiphertextBlob!))).toBe(false);
  });

  it('refuses to decrypt under another, a missing or an extra encryption context', async () => {
    const { keyId } = await newKey();
    const enc = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('tenant A key'), EncryptionContext: { tenant: 'A' } }));
    const contexts: Array<Record<string, string> | undefined> = [{ tenant: 'B' }, undefined, { tenant: 'A', purpose: 'x' }];
    for (const EncryptionContext of contexts) {
      await expect(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext }))).rejects.toBeInstanceOf(InvalidCiphertextException);
    }
  });

  it('rejects a tampered ciphertext and garbage', async () => {
    const { keyId } = await newKey();
    const enc = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('do not touch') }));
    const tampered = Buffer.from(enc.CiphertextBlob!);
    tampered[tampered.length - 1]! ^= 0x01;
    await expect(kms.send(new DecryptCommand({ CiphertextBlob: tampered }))).rejects.toBeInstanceOf(InvalidCiphertextException);
    await expect(kms.send(new DecryptCommand({ CiphertextBlob: Buffer.from('not a blob at all') }))).rejects.toBeInstanceOf(InvalidCiphertextException);
  });

  it('answers IncorrectKeyException when Decrypt names another key than the blob', async () => {
    const a = await newKey();
    const b = await newKey();
    const enc = await kms.send(new EncryptCommand({ KeyId: a.keyId, Plaintext: Buffer.from('x') }));
    await expect(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, KeyId: b.keyId }))).rejects.toBeInstanceOf(IncorrectKeyException);
    const ok = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, KeyId: a.arn }));
    expect(text(ok.Plaintext)).toBe('x');
  });

  it('answers DisabledException for a disabled key, and works again after EnableKey', async () => {
    const { keyId } = await newKey('alias/to-disable');
    const enc = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }));
    await kms.send(new DisableKeyCommand({ KeyId: keyId }));
    const { KeyMetadata } = await kms.send(new DescribeKeyCommand({ KeyId: 'alias/to-disable' }));
    expect(KeyMetadata!.KeyState).toBe('Disabled');
    expect(KeyMetadata!.Enabled).toBe(false);
    await expect(kms.send(new EncryptCommand({ KeyId: 'alias/to-disable', Plaintext: Buffer.from('x') }))).rejects.toBeInstanceOf(DisabledException);
    await expect(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }))).rejects.toBeInstanceOf(DisabledException);
    await expect(kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' }))).rejects.toBeInstanceOf(DisabledException);
    await kms.send(new EnableKeyCommand({ KeyId: keyId }));
    expect(text((await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }))).Plaintext)).toBe('x');
  });

  it('answers NotFoundException for unknown keys and aliases, and for ARNs of another account', async () => {
    const unknown = '11111111-2222-3333-4444-555555555555';
    for (const KeyId of [unknown, 'alias/nope', `arn:aws:kms:us-east-1:000000000000:key/${unknown}`, 'not-a-key-id']) {
      await expect(kms.send(new EncryptCommand({ KeyId, Plaintext: Buffer.from('x') }))).rejects.toBeInstanceOf(NotFoundException);
      await expect(kms.send(new DescribeKeyCommand({ KeyId }))).rejects.toBeInstanceOf(NotFoundException);
    }
    const { keyId } = await newKey();
    await expect(kms.send(new DescribeKeyCommand({ KeyId: `arn:aws:kms:us-east-1:123456789012:key/${keyId}` }))).rejects.toBeInstanceOf(NotFoundException);
    await expect(kms.send(new CreateAliasCommand({ AliasName: 'alias/dangling', TargetKeyId: unknown }))).rejects.toBeInstanceOf(NotFoundException);
  });

  it('refuses a duplicate alias with AlreadyExistsException and lists aliases', async () => {
    const { keyId } = await newKey('alias/dup');
    await expect(kms.send(new CreateAliasCommand({ AliasName: 'alias/dup', TargetKeyId: keyId }))).rejects.toBeInstanceOf(AlreadyExistsException);
    const { Aliases } = await kms.send(new ListAliasesCommand({ KeyId: keyId }));
    expect(Aliases!.map((a) => a.AliasName)).toEqual(['alias/dup']);
    expect(Aliases![0]!.AliasArn).toBe('arn:aws:kms:us-east-1:000000000000:alias/dup');
    expect(Aliases![0]!.TargetKeyId).toBe(keyId);
  });

  it('rejects plaintext over 4096 bytes with ValidationException, accepts exactly 4096', async () => {
    const { keyId } = await newKey();
    const err = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.alloc(4097, 1) })).catch((e: unknown) => e);
    expect((err as Error).name).toBe('ValidationException');
    expect((err as Error).message).toMatch(/plaintext.*4096/i);
    const ok = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.alloc(4096, 1) }));
    expect(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: ok.CiphertextBlob }))).Plaintext!).equals(Buffer.alloc(4096, 1))).toBe(true);
  });

  it('generates data keys whose ciphertext decrypts to the returned plaintext under the same context only', async () => {
    const { keyId } = await newKey();
    const gen = await kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: { tenant: 'A' } }));
    expect(gen.Plaintext!.length).toBe(32);
    const dec = await kms.send(new DecryptCommand({ CiphertextBlob: gen.CiphertextBlob, EncryptionContext: { tenant: 'A' } }));
    expect(Buffer.from(dec.Plaintext!).equals(Buffer.from(gen.Plaintext!))).toBe(true);
    await expect(kms.send(new DecryptCommand({ CiphertextBlob: gen.CiphertextBlob, EncryptionContext: { tenant: 'B' } }))).rejects.toBeInstanceOf(InvalidCiphertextException);
    const small = await kms.send(new GenerateDataKeyCommand({ KeyId: keyId, NumberOfBytes: 16 }));
    expect(small.Plaintext!.length).toBe(16);
  });
});
