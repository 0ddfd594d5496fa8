import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { DescribeKeyCommand, DisableKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { DescribeSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { bootstrapDev, clientEnv, DEFAULT_DEV_SECRETS, DEV_KEY_ALIAS, startAwsStandIn, type AwsStandIn } from '../../local/aws-standin/index.ts';

const run = promisify(execFile);
let standIn: AwsStandIn;

beforeAll(async () => {
  standIn = await startAwsStandIn();
});
afterAll(async () => {
  await standIn?.stop();
});

/** The parent's env minus anything that could point the SDK at a real account. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('AWS_')) delete env[k];
  return env;
}

describe('reaching the stand-in through the environment, as unchanged application code does', () => {
  it('clientEnv names the endpoint, the dev credentials and the region', () => {
    expect(standIn.clientEnv()).toEqual(clientEnv(standIn));
    expect(clientEnv(standIn)).toEqual({
      AWS_ENDPOINT_URL_KMS: standIn.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: standIn.endpoint,
      AWS_ACCESS_KEY_ID: 'LOCALSTANDIN',
      AWS_SECRET_ACCESS_KEY: 'localstandinsecret',
      AWS_REGION: 'us-east-1',
    });
  });

  it('a child process with clientEnv and no client options encrypts, decrypts and reads a secret', async () => {
    const dev = await bootstrapDev(standIn);
    const script = `
      import { KMSClient, EncryptCommand, DecryptCommand } from '@aws-sdk/client-kms';
      import { SecretsManagerClient, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
      const kms = new KMSClient({});
      const sm = new SecretsManagerClient({});
      const enc = await kms.send(new EncryptCommand({ KeyId: '${DEV_KEY_ALIAS}', Plaintext: Buffer.from('from child'), EncryptionContext: { tenant: 'c' } }));
      const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { tenant: 'c' } }));
      const secret = await sm.send(new GetSecretValueCommand({ SecretId: 'migrator/local/llm/google' }));
      console.log(JSON.stringify({ keyId: enc.KeyId, plaintext: Buffer.from(dec.Plaintext).toString(), secret: JSON.parse(secret.SecretString).apiKey }));
    `;
    standIn.resetCalls();
    const { stdout } = await run(process.execPath, ['--no-warnings', '--input-type=module', '-e', script], {
      cwd: process.cwd(),
      env: { ...cleanEnv(), ...clientEnv(standIn) },
      timeout: 30_000,
    });
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({ keyId: dev.keyArn, plaintext: 'from child', secret: 'fake-dev-google-key-NOT-REAL' });
    expect(standIn.calls).toEqual({ 'TrentService.Encrypt': 1, 'TrentService.Decrypt': 1, 'secretsmanager.GetSecretValue': 1 });
  });

  it('in-process clients built after setting process.env reach it too', async () => {
    const saved = { ...process.env };
    try {
      for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
      Object.assign(process.env, clientEnv(standIn));
      const kms = new KMSClient({ maxAttempts: 1 });
      const { KeyMetadata } = await kms.send(new DescribeKeyCommand({ KeyId: DEV_KEY_ALIAS }));
      expect(KeyMetadata!.Arn).toMatch(/^arn:aws:kms:us-east-1:000000000000:key\//);
      kms.destroy();
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });
});

describe('bootstrapDev', () => {
  it('creates the dev key, alias and fake secrets once; a re-run changes nothing and keeps versions', async () => {
    const fresh = await startAwsStandIn();
    try {
      const first = await bootstrapDev(fresh);
      expect(first.keyCreated).toBe(true);
      expect(first.aliasName).toBe('alias/migrator-local');
      expect(first.aliasArn).toBe('arn:aws:kms:us-east-1:000000000000:alias/migrator-local');
      expect(first.secrets.map((s) => [s.name, s.created])).toEqual([
        ['migrator/local/llm/google', true],
        ['migrator/local/llm/openrouter', true],
      ]);
      const second = await bootstrapDev(fresh);
      expect(second.keyCreated).toBe(false);
      expect(second.keyId).toBe(first.keyId);
      expect(second.secrets).toEqual(first.secrets.map((s) => ({ ...s, created: false })));

      const sm = new SecretsManagerClient({ ...fresh.clientConfig(), maxAttempts: 1 });
      for (const spec of DEFAULT_DEV_SECRETS) {
        const v = await sm.send(new GetSecretValueCommand({ SecretId: spec.name }));
        expect(v.SecretString).toBe(spec.value);
        expect(JSON.parse(v.SecretString!).apiKey).toMatch(/^fake-dev-.*-NOT-REAL$/);
        expect((await sm.send(new DescribeSecretCommand({ SecretId: spec.name }))).KmsKeyId).toBe('alias/migrator-local');
      }
      sm.destroy();
    } finally {
      await fresh.stop();
    }
  });

  it('takes its own secret list and re-enables a dev key someone disabled', async () => {
    const fresh = await startAwsStandIn();
    try {
      const first = await bootstrapDev(fresh, { aliasName: 'alias/other-dev', secrets: [{ name: 'custom/dev/one', value: 'fake-custom-NOT-REAL' }] });
      const kms = new KMSClient({ ...fresh.clientConfig(), maxAttempts: 1 });
      await kms.send(new DisableKeyCommand({ KeyId: first.keyId }));
      const again = await bootstrapDev(fresh, { aliasName: 'alias/other-dev', secrets: [{ name: 'custom/dev/one', value: 'ignored-on-rerun' }] });
      expect(again.keyId).toBe(first.keyId);
      expect((await kms.send(new DescribeKeyCommand({ KeyId: 'alias/other-dev' }))).KeyMetadata!.Enabled).toBe(true);
      const sm = new SecretsManagerClient({ ...fresh.clientConfig(), maxAttempts: 1 });
      expect((await sm.send(new GetSecretValueCommand({ SecretId: 'custom/dev/one' }))).SecretString).toBe('fake-custom-NOT-REAL');
      kms.destroy();
      sm.destroy();
    } finally {
      await fresh.stop();
    }
  });
});
