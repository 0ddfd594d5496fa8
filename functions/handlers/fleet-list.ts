/**
 * First state of a fleet execution: list the targets now (secrets by prefix/tag plus the static list, so a
 * new tenant needs no deploy), keep only the execution's `only` names (a retry), and split them into the
 * canary wave and the rest. The lists travel in the execution's state, which Step Functions caps at 256 KiB.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { awsClientConfig } from '../core/aws/clients.ts';
import * as z from 'zod';
import { FleetTargetsError, listSecretTargets, mergeTargets, planWaves, restrictTargets } from '../core/fleet/targets.ts';
import type { FleetTarget } from '../core/fleet/types.ts';
import { fleetLogger as createLogger } from './fleet-log.ts';
import { listEnv } from './fleet-env.ts';

const ListEvent = z.object({
  trigger: z.enum(['deploy', 'invoke', 'local']).default('invoke'),
  /** Only these targets (by name): `migrator fleet retry --failed`. */
  only: z.array(z.string().min(1)).max(10_000).optional(),
});

const StaticTargets = z.array(z.object({ name: z.string().min(1), secretId: z.string().min(1) }));

export interface ListResult {
  trigger: 'deploy' | 'invoke' | 'local';
  canary: FleetTarget[];
  rest: FleetTarget[];
  total: number;
  /** Filled by the state machine's catch paths; null here so every later path can reference them. */
  failure: null;
  failedWave: null;
}

/** Step Functions' state payload limit is 256 KiB; stay clear of it with room for the rest of the state. */
export const MAX_TARGET_BYTES = 200 * 1024;

export function createListTargets(deps: { secrets?: SecretsManagerClient } = {}) {
  let secrets = deps.secrets;
  return async function fleetListTargets(raw: unknown): Promise<ListResult> {
    const env = listEnv();
    const parsed = ListEvent.safeParse(raw ?? {});
    if (!parsed.success) throw new FleetTargetsError(`Fleet execution input is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const statics = StaticTargets.parse(JSON.parse(env.TARGETS_STATIC));
    // Bounded calls (timeouts, attempts): the step's Lambda timeout is not the only deadline.
    secrets ??= new SecretsManagerClient(awsClientConfig());
    const listed = await listSecretTargets(secrets, {
      secretNamePrefix: env.TARGET_SECRET_PREFIX,
      secretTag: env.TARGET_TAG_KEY ? { key: env.TARGET_TAG_KEY, value: env.TARGET_TAG_VALUE } : undefined,
      nameTag: env.TARGET_NAME_TAG,
    });
    const all = restrictTargets(mergeTargets(statics, listed), parsed.data.only);
    const waves = planWaves(all, { names: env.CANARY_NAMES, count: env.CANARY_COUNT }, Boolean(parsed.data.only));
    const result: ListResult = { trigger: parsed.data.trigger, ...waves, total: all.length, failure: null, failedWave: null };
    const bytes = Buffer.byteLength(JSON.stringify(result), 'utf8');
    if (bytes > MAX_TARGET_BYTES) {
      throw new FleetTargetsError(
        `${all.length} fleet targets take ${Math.round(bytes / 1024)} KiB, over the ${MAX_TARGET_BYTES / 1024} KiB this state may use (Step Functions caps state at 256 KiB): use shorter secret names or split the fleet.`,
      );
    }
    createLogger({ stage: env.STAGE, trigger: parsed.data.trigger }).info('fleet targets listed', {
      total: all.length,
      canary: waves.canary.map((t) => t.name),
      restricted: Boolean(parsed.data.only),
    });
    return result;
  };
}

export const fleetListTargets = createListTargets();
