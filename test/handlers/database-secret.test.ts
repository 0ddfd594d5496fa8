/**
 * Credentials from the RDS-shaped secret at every invocation (so rotation needs no redeploy), over the real
 * Secrets Manager client against the stand-in; bad secrets give errors that name fields, never values.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { databaseConfigFromSecret, sslOptions, tlsModeFrom } from '../../functions/core/aws/database-secret.ts';
import { connect } from '../../functions/core/db.ts';
import { setupSimEnv, type SimEnv } from './support/sim-env.ts';

let sim: SimEnv;
let sm: SecretsManagerClient;

beforeAll(async () => {
  sim = await setupSimEnv('staging');
  sm = new SecretsManagerClient(sim.standIn.clientConfig());
}, 60_000);
afterAll(async () => {
  sm?.destroy();
  await sim?.close();
});

describe('databaseConfigFromSecret', () => {
  it('builds a pg config from the RDS secret, with verified TLS unless turned off', async () => {
    const verified = await databaseConfigFromSecret({ secretId: sim.secretArn, client: sm });
    expect(verified).toMatchObject({ user: sim.role, database: sim.db.name, ssl: { rejectUnauthorized: true } });
    const plain = await databaseConfigFromSecret({ secretId: sim.secretArn, client: sm, tls: 'off' });
    expect(plain.ssl).toBe(false);
    expect(tlsModeFrom(undefined)).toBe('verify-full');
    expect(tlsModeFrom('off')).toBe('off');
    expect(tlsModeFrom('anything-else')).toBe('verify-full');
    expect(sslOptions('verify-full')).toEqual({ rejectUnauthorized: true });
  });

  it('never falls back to plain TCP: with TLS required, a server without TLS is refused', async () => {
    const verified = await databaseConfigFromSecret({ secretId: sim.secretArn, client: sm });
    const error = await connect(verified, { retries: 0, connectTimeoutMs: 3_000 }).then(
      async (c) => (await c.end(), undefined),
      (e: Error) => e,
    );
    // The test servers (embedded 18, local 15) serve no TLS; if one did, it would have to present a trusted certificate.
    expect(error?.message).toMatch(/does not support SSL|self[- ]signed|unable to verify|certificate/i);
    expect(error?.message).not.toContain(sim.password);
  });

  it('picks up a rotated password at the next call', async () => {
    const before = await databaseConfigFromSecret({ secretId: sim.secretArn, client: sm, tls: 'off' });
    const c1 = await connect(before, { retries: 0 });
    await c1.end();
    const rotated = `canary-rotated-${Date.now()}`;
    await sim.rotatePassword(rotated);
    const after = await databaseConfigFromSecret({ secretId: sim.secretArn, client: sm, tls: 'off' });
    expect(after.password).toBe(rotated);
    const c2 = await connect(after, { retries: 0 });
    expect((await c2.query('SELECT current_user AS u')).rows[0].u).toBe(sim.role);
    await c2.end();
    await sim.rotatePassword(sim.password);
  });

  it.each([
    ['not JSON', 'host=db password=canary-plain-1', /is not JSON/],
    ['missing fields', JSON.stringify({ host: 'db', password: 'canary-plain-2' }), /bad or missing field\(s\) username/],
    ['wrong types', JSON.stringify({ host: 'db', port: 'abc', username: 'u', password: 'canary-plain-3' }), /field\(s\) port/],
  ])('rejects a secret that is %s, naming the secret and fields but no value', async (_label, text, pattern) => {
    await sim.putSecret(text);
    try {
      const error = await databaseConfigFromSecret({ secretId: sim.secretArn, client: sm }).then(() => undefined, (e: Error) => e);
      expect(error?.message).toMatch(pattern);
      expect(error?.message).toContain(sim.secretArn);
      expect(error?.message).not.toMatch(/canary-plain/);
    } finally {
      await sim.rotatePassword(sim.password);
    }
  });

  it('reports a missing secret with the AWS error name', async () => {
    const error = await databaseConfigFromSecret({ secretId: 'migrator/staging/db/nope', client: sm }).then(() => undefined, (e: Error) => e);
    expect(error?.message).toMatch(/Could not read the database secret migrator\/staging\/db\/nope: ResourceNotFoundException/);
  });
});
