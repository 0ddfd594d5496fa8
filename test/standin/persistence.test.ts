import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateAliasCommand, CreateKeyCommand, DecryptCommand, EncryptCommand, KMSClient, DisableKeyCommand, DescribeKeyCommand } from '@aws-sdk/client-kms';
import { CreateSecretCommand, GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { startAwsStandIn, type AwsStandIn } from '../../local/aws-standin/index.ts';

const dirs: string[] = [];
const running: AwsStandIn[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'standin-'));
  dirs.push(d);
  return d;
}

async function start(stateFile: string): Promise<{ standIn: AwsStandIn; kms: KMSClient; sm: SecretsManagerClient }> {
  const standIn = await startAwsStandIn({ stateFile });
  running.push(standIn);
  return {
    standIn,
    kms: new KMSClient({ ...standIn.clientConfig(), maxAttempts: 1 }),
    sm: new SecretsManagerClient({ ...standIn.clientConfig(), maxAttempts: 1 }),
  };
}

describe('state file', () => {
  it('keeps keys, aliases, key state and secrets across a restart, so old ciphertexts still decrypt', async () => {
    const stateFile = join(tempDir(), 'nested', 'aws-standin.json');
    const first = await start(stateFile);
    const keyId = (await first.kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    await first.kms.send(new CreateAliasCommand({ AliasName: 'alias/persisted', TargetKeyId: keyId }));
    const disabledId = (await first.kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    await first.kms.send(new DisableKeyCommand({ KeyId: disabledId }));
    const enc = await first.kms.send(new EncryptCommand({ KeyId: 'alias/persisted', Plaintext: Buffer.from('survives'), EncryptionContext: { tenant: 't' } }));
    const created = await first.sm.send(new CreateSecretCommand({ Name: 'persist/one', SecretString: 'persisted-secret-v1-9b2e', KmsKeyId: 'alias/persisted' }));
    await first.sm.send(new PutSecretValueCommand({ SecretId: 'persist/one', SecretString: 'persisted-secret-v2-9b2e' }));
    first.kms.destroy();
    first.sm.destroy();
    await first.standIn.stop();
    running.length = 0;

    // Secret values are encrypted at rest: the file never holds them in clear.
    const onDisk = readFileSync(stateFile, 'utf8');
    expect(onDisk).toContain('persist/one');
    expect(onDisk).not.toContain('persisted-secret');
    expect(onDisk).not.toContain(Buffer.from('persisted-secret-v1-9b2e').toString('base64'));
    expect(readdirSync(join(stateFile, '..'))).toEqual(['aws-standin.json']);

    const second = await start(stateFile);
    expect(second.standIn.endpoint).not.toBe(first.standIn.endpoint);
    const dec = await second.kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { tenant: 't' } }));
    expect(Buffer.from(dec.Plaintext!).toString()).toBe('survives');
    expect((await second.kms.send(new DescribeKeyCommand({ KeyId: disabledId }))).KeyMetadata!.KeyState).toBe('Disabled');
    const current = await second.sm.send(new GetSecretValueCommand({ SecretId: 'persist/one' }));
    expect(current.SecretString).toBe('persisted-secret-v2-9b2e');
    const previous = await second.sm.send(new GetSecretValueCommand({ SecretId: 'persist/one', VersionId: created.VersionId }));
    expect(previous.SecretString).toBe('persisted-secret-v1-9b2e');
    expect(previous.VersionStages).toEqual(['AWSPREVIOUS']);
    second.kms.destroy();
    second.sm.destroy();
  });

  it('without a state file, a restart forgets everything and says why old ciphertexts fail', async () => {
    const a = await startAwsStandIn();
    const kms = new KMSClient({ ...a.clientConfig(), maxAttempts: 1 });
    const keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const enc = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('lost') }));
    await a.stop();
    const b = await startAwsStandIn();
    running.push(b);
    const kms2 = new KMSClient({ ...b.clientConfig(), maxAttempts: 1 });
    await expect(kms2.send(new DescribeKeyCommand({ KeyId: keyId }))).rejects.toMatchObject({ name: 'NotFoundException' });
    await expect(kms2.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }))).rejects.toMatchObject({
      name: 'InvalidCiphertextException',
      message: expect.stringContaining('state file'),
    });
    kms.destroy();
    kms2.destroy();
  });

  it('reports a state file it cannot write when stopped, instead of losing changes silently', async () => {
    // A folder it cannot create is refused at start (the state lock lives beside the file)...
    await expect(startAwsStandIn({ stateFile: '/dev/null/cannot/state.json' })).rejects.toThrow(/ENOTDIR/);
    // ...and one that disappears while running (replaced by a file) is reported at stop.
    const dir = join(tempDir(), 'sub');
    const standIn = await startAwsStandIn({ stateFile: join(dir, 'state.json') });
    rmSync(dir, { recursive: true, force: true });
    writeFileSync(dir, 'not a folder');
    const kms = new KMSClient({ ...standIn.clientConfig(), maxAttempts: 1 });
    await kms.send(new CreateKeyCommand({}));
    kms.destroy();
    await expect(standIn.stop()).rejects.toThrow(/ENOTDIR|EEXIST|ENOENT/);
  });

  it('refuses to start on a corrupt state file, naming it', async () => {
    const stateFile = join(tempDir(), 'broken.json');
    writeFileSync(stateFile, '{"version": 1, "keys": ');
    await expect(startAwsStandIn({ stateFile })).rejects.toThrow(stateFile);
    writeFileSync(stateFile, '{"version": 2}');
    await expect(startAwsStandIn({ stateFile })).rejects.toThrow(/unknown format/);
  });
});
