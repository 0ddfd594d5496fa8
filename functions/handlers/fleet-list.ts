/**
 * First state of a fleet execution: list the targets now (secrets by prefix/tag plus the static list, so a
 * new tenant needs no deploy), keep only the execution's `only` names (a retry), and split them into the
 * canary wave and the rest. The lists go to S3 (one JSON array per wave, read by each Distributed Map's
 * ItemReader); the state carries their keys and counts only, so the 256 KiB state limit bounds nothing.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { awsClientConfig } from '../core/aws/clients.ts';
import * as z from 'zod';
import { FleetTargetsError, listSecretTargets, mergeTargets, planWaves, restrictTargets } from '../core/fleet/targets.ts';
import { S3TargetLists, type TargetListRef, type TargetListStore } from '../core/fleet/target-lists.ts';
import { fleetLogger as createLogger } from './fleet-log.ts';
import { listEnv } from './fleet-env.ts';

/** The execution's input (as `migrator invoke fleet` / `fleet retry` / the deploy start it) and its id. */
const ListEvent = z.object({
  input: z
    .object({
      trigger: z.enum(['deploy', 'invoke', 'local']).default('invoke'),
      /** Only these targets (by name): `migrator fleet retry --failed`. */
      only: z.array(z.string().min(1)).max(100_000).optional(),
    })
    .default({ trigger: 'invoke' }),
  executionId: z.string().min(1),
});

const StaticTargets = z.array(z.object({ name: z.string().min(1), secretId: z.string().min(1) }));

export interface ListResult {
  trigger: 'deploy' | 'invoke' | 'local';
  /** Where each wave's targets are (the Maps' ItemReader reads them). */
  canary: TargetListRef;
  rest: TargetListRef;
  total: number;
  /** Filled by the state machine's catch paths; null here so every later path can reference them. */
  failure: null;
  failedWave: null;
}

export function createListTargets(deps: { secrets?: SecretsManagerClient; lists?: TargetListStore } = {}) {
  let secrets = deps.secrets;
  let lists = deps.lists;
  return async function fleetListTargets(raw: unknown): Promise<ListResult> {
    const env = listEnv();
    const parsed = ListEvent.safeParse(raw);
    if (!parsed.success) throw new FleetTargetsError(`Fleet execution input is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const statics = StaticTargets.parse(JSON.parse(env.TARGETS_STATIC));
    // Bounded calls (timeouts, attempts): the step's Lambda timeout is not the only deadline.
    secrets ??= new SecretsManagerClient(awsClientConfig());
    const listed = await listSecretTargets(secrets, {
      secretNamePrefix: env.TARGET_SECRET_PREFIX,
      secretTag: env.TARGET_TAG_KEY ? { key: env.TARGET_TAG_KEY, value: env.TARGET_TAG_VALUE } : undefined,
      nameTag: env.TARGET_NAME_TAG,
    });
    const input = parsed.data.input;
    const all = restrictTargets(mergeTargets(statics, listed), input.only);
    const waves = planWaves(all, { names: env.CANARY_NAMES, count: env.CANARY_COUNT }, Boolean(input.only));
    if (!env.TARGETS_BUCKET && !deps.lists) throw new FleetTargetsError('Fleet list-targets function misconfigured: TARGETS_BUCKET is not set');
    lists ??= new S3TargetLists({ bucket: env.TARGETS_BUCKET!, client: new S3Client(awsClientConfig()) });
    const [canary, rest] = await Promise.all([lists.put(parsed.data.executionId, 'canary', waves.canary), lists.put(parsed.data.executionId, 'rest', waves.rest)]);
    const result: ListResult = { trigger: input.trigger, canary, rest, total: all.length, failure: null, failedWave: null };
    createLogger({ stage: env.STAGE, trigger: input.trigger, executionArn: parsed.data.executionId }).info('fleet targets listed', {
      total: all.length,
      canary: waves.canary.slice(0, 20).map((t) => t.name),
      restricted: Boolean(input.only),
      lists: [canary.key, rest.key],
    });
    return result;
  };
}

export const fleetListTargets = createListTargets();
