import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { CreateKeyCommand, CreateAliasCommand, DisableKeyCommand, EnableKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  InvalidRequestException,
  ListSecretsCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  SecretsManagerClient,
  UpdateSecretCommand,
} from '@aws-sdk/client-secrets-manager';
import { startAwsStandIn, type AwsStandIn } from '../../local/aws-standin/index.ts';

let standIn: AwsStandIn;
let sm: SecretsManagerClient;
let kms: KMSClient;

beforeAll(async () => {
  standIn = await startAwsStandIn();
  sm = new SecretsManagerClient({ ...standIn.clientConfig(), maxAttempts: 1 });
  kms = new KMSClient({ ...standIn.clientConfig(), maxAttempts: 1 });
});
afterAll(async () => {
  sm?.destroy();
  kms?.destroy();
  await standIn?.stop();
});

const unique = (prefix: string): string => `${prefix}/${randomUUID().slice(0, 8)}`;

describe('Secrets Manager stand-in through the real SecretsManagerClient', () => {
  it('creates, puts and gets versions; AWSCURRENT moves and the old one becomes AWSPREVIOUS', async () => {
    const name = unique('test/versions');
    const created = await sm.send(new CreateSecretCommand({ Name: name, SecretString: '{"apiKey":"v1"}' }));
    expect(created.ARN).toMatch(new RegExp(`^arn:aws:secretsmanager:us-east-1:000000000000:secret:${name}-[A-Za-z]{6}$`));
    expect(created.VersionId).toMatch(/^[0-9a-f-]{36}$/);

    const v1 = await sm.send(new GetSecretValueCommand({ SecretId: name }));
    expect(v1.SecretString).toBe('{"apiKey":"v1"}');
    expect(v1.VersionId).toBe(created.VersionId);
    expect(v1.VersionStages).toEqual(['AWSCURRENT']);
    expect(v1.CreatedDate).toBeInstanceOf(Date);

    const put = await sm.send(new PutSecretValueCommand({ SecretId: created.ARN, SecretString: '{"apiKey":"v2"}' }));
    expect(put.VersionId).not.toBe(created.VersionId);
    expect(put.VersionStages).toEqual(['AWSCURRENT']);

    const current = await sm.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSCURRENT' }));
    expect(current.SecretString).toBe('{"apiKey":"v2"}');
    expect(current.VersionId).toBe(put.VersionId);
    const previous = await sm.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPREVIOUS' }));
    expect(previous.SecretString).toBe('{"apiKey":"v1"}');
    expect(previous.VersionId).toBe(created.VersionId);
    const byId = await sm.send(new GetSecretValueCommand({ SecretId: name, VersionId: created.VersionId }));
    expect(byId.SecretString).toBe('{"apiKey":"v1"}');

    await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: '{"apiKey":"v3"}' }));
    const d = await sm.send(new DescribeSecretCommand({ SecretId: name }));
    // v1 lost its last label; v2 is AWSPREVIOUS now.
    expect(d.VersionIdsToStages![put.VersionId!]).toEqual(['AWSPREVIOUS']);
    expect(d.VersionIdsToStages![created.VersionId!]).toBeUndefined();
    expect(d.Name).toBe(name);
    expect(d.LastChangedDate).toBeInstanceOf(Date);
  });

  it('is idempotent on ClientRequestToken and refuses to change an existing version', async () => {
    const name = unique('test/idempotent');
    const token = randomUUID();
    const a = await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'one', ClientRequestToken: token }));
    const again = await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'one', ClientRequestToken: token }));
    expect(again.VersionId).toBe(token);
    expect(again.ARN).toBe(a.ARN);
    await expect(sm.send(new CreateSecretCommand({ Name: name, SecretString: 'other' }))).rejects.toBeInstanceOf(ResourceExistsException);

    const putToken = randomUUID();
    await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'two', ClientRequestToken: putToken }));
    const retry = await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'two', ClientRequestToken: putToken }));
    expect(retry.VersionId).toBe(putToken);
    await expect(sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'changed', ClientRequestToken: putToken }))).rejects.toBeInstanceOf(ResourceExistsException);
    const d = await sm.send(new DescribeSecretCommand({ SecretId: name }));
    expect(Object.keys(d.VersionIdsToStages!)).toHaveLength(2);
    expect((await sm.send(new GetSecretValueCommand({ SecretId: name }))).SecretString).toBe('two');
  });

  it('answers ResourceNotFoundException for an unknown secret, version or stage', async () => {
    await expect(sm.send(new GetSecretValueCommand({ SecretId: 'test/does-not-exist' }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(sm.send(new DescribeSecretCommand({ SecretId: 'test/does-not-exist' }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(sm.send(new PutSecretValueCommand({ SecretId: 'test/does-not-exist', SecretString: 'x' }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    const name = unique('test/lonely');
    await sm.send(new CreateSecretCommand({ Name: name }));
    // A secret created without a value has no AWSCURRENT version.
    await expect(sm.send(new GetSecretValueCommand({ SecretId: name }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'only' }));
    await expect(sm.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPREVIOUS' }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(sm.send(new GetSecretValueCommand({ SecretId: name, VersionId: randomUUID() }))).rejects.toBeInstanceOf(ResourceNotFoundException);
  });

  it('stores binary secrets and finds secrets by partial ARN', async () => {
    const name = unique('test/binary');
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    const c = await sm.send(new CreateSecretCommand({ Name: name, SecretBinary: bytes }));
    const got = await sm.send(new GetSecretValueCommand({ SecretId: c.ARN!.slice(0, -7) }));
    expect(Buffer.from(got.SecretBinary!).equals(bytes)).toBe(true);
    expect(got.SecretString).toBeUndefined();
  });

  it('encrypts values with the secret KMS key: a disabled key makes reads and writes fail as in AWS', async () => {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({}));
    const keyId = KeyMetadata!.KeyId!;
    const alias = `alias/${randomUUID()}`;
    await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: keyId }));
    const name = unique('test/cmk');
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'value-under-cmk-7f3a', KmsKeyId: alias }));
    expect((await sm.send(new DescribeSecretCommand({ SecretId: name }))).KmsKeyId).toBe(alias);

    await kms.send(new DisableKeyCommand({ KeyId: keyId }));
    const read = await sm.send(new GetSecretValueCommand({ SecretId: name })).catch((e: unknown) => e as Error);
    expect(read).toBeInstanceOf(Error);
    expect((read as Error).name).toBe('DecryptionFailure');
    expect((read as Error).message).toContain('is disabled');
    expect((read as Error).message).not.toContain('value-under-cmk-7f3a');
    const write = await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'new' })).catch((e: unknown) => e as Error);
    expect((write as Error).name).toBe('EncryptionFailure');

    await kms.send(new EnableKeyCommand({ KeyId: keyId }));
    expect((await sm.send(new GetSecretValueCommand({ SecretId: name }))).SecretString).toBe('value-under-cmk-7f3a');
  });

  it('refuses a secret under an unknown KMS key and leaves nothing behind', async () => {
    const name = unique('test/badkey');
    const err = await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'x', KmsKeyId: 'alias/missing' })).catch((e: unknown) => e as Error);
    expect((err as Error).name).toBe('EncryptionFailure');
    await expect(sm.send(new DescribeSecretCommand({ SecretId: name }))).rejects.toBeInstanceOf(ResourceNotFoundException);
  });

  it('updates, lists by name prefix, deletes and refuses a deleted secret', async () => {
    const prefix = unique('test/list');
    await sm.send(new CreateSecretCommand({ Name: `${prefix}/a`, SecretString: 'a' }));
    await sm.send(new CreateSecretCommand({ Name: `${prefix}/b`, SecretString: 'b' }));
    const u = await sm.send(new UpdateSecretCommand({ SecretId: `${prefix}/a`, Description: 'desc', SecretString: 'a2' }));
    expect(u.VersionId).toBeTruthy();
    expect((await sm.send(new GetSecretValueCommand({ SecretId: `${prefix}/a` }))).SecretString).toBe('a2');
    const listed = await sm.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [prefix] }] }));
    expect(listed.SecretList!.map((s) => s.Name)).toEqual([`${prefix}/a`, `${prefix}/b`]);
    expect(listed.SecretList![0]!.Description).toBe('desc');

    await sm.send(new DeleteSecretCommand({ SecretId: `${prefix}/b`, RecoveryWindowInDays: 7 }));
    await expect(sm.send(new GetSecretValueCommand({ SecretId: `${prefix}/b` }))).rejects.toBeInstanceOf(InvalidRequestException);
    await sm.send(new DeleteSecretCommand({ SecretId: `${prefix}/a`, ForceDeleteWithoutRecovery: true }));
    await expect(sm.send(new GetSecretValueCommand({ SecretId: `${prefix}/a` }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    const after = await sm.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [prefix] }] }));
    expect(after.SecretList).toEqual([]);
  });
});
