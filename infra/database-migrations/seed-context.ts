/**
 * The KMS encryption-context keys the seeder sends for a seeds folder, read from its seed model at synth
 * (seed.config.yaml, or the built-in model): the `kms:EncryptionContextKeys` IAM condition follows what
 * the seeds encrypt with, so a model declaring `{tenant, tenantSlug, purpose}` gets exactly those. The
 * construct's `encryptionContextKeys` prop stays an override.
 */
import { loadModel } from '../../functions/core/seed/model-load.ts';
import { encryptionContextKeys } from '../../functions/core/seed/model.ts';

/** The context keys of the model in `seedsDir`; ['tenant', 'purpose'] when it encrypts nothing (IAM needs a non-empty set). */
export function seedContextKeys(seedsDir: string): string[] {
  const keys = encryptionContextKeys(loadModel(seedsDir));
  return keys.length > 0 ? keys : ['tenant', 'purpose'];
}
