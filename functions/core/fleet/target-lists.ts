/**
 * Where an execution's target lists live between the list step and the Distributed Maps: in S3, one JSON
 * array per wave, read by each Map's ItemReader. The execution's state carries only their keys and counts,
 * so a fleet is not bounded by the 256 KiB state payload limit (about 2,000 targets inline). The local test
 * driver uses the in-process store.
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { FleetTarget, FleetWave } from './types.ts';

/** One wave's list as the state machine reads it. */
export interface TargetListRef {
  bucket: string;
  key: string;
  count: number;
}

export interface TargetListStore {
  /** Stores `targets` (a JSON array of {name, secretId}) for one wave of one execution. */
  put(executionId: string, wave: FleetWave, targets: FleetTarget[]): Promise<TargetListRef>;
}

/** `<execution name>/<wave>.json`: one folder per execution, the name being unique per state machine. */
export function targetListKey(executionId: string, wave: FleetWave): string {
  const name = executionId.split(':').at(-1) || executionId;
  return `${name.replace(/[^A-Za-z0-9._-]/g, '_')}/${wave}.json`;
}

export class S3TargetLists implements TargetListStore {
  constructor(private readonly options: { bucket: string; client: S3Client }) {}

  async put(executionId: string, wave: FleetWave, targets: FleetTarget[]): Promise<TargetListRef> {
    const key = targetListKey(executionId, wave);
    // Only names and secret ARNs (never values): what the Map items get as `$$.Map.Item.Value`.
    const body = JSON.stringify(targets.map((t) => ({ name: t.name, secretId: t.secretId })));
    await this.options.client.send(new PutObjectCommand({ Bucket: this.options.bucket, Key: key, Body: body, ContentType: 'application/json' }));
    return { bucket: this.options.bucket, key, count: targets.length };
  }
}

export class MemoryTargetLists implements TargetListStore {
  readonly lists = new Map<string, FleetTarget[]>();
  async put(executionId: string, wave: FleetWave, targets: FleetTarget[]): Promise<TargetListRef> {
    const key = targetListKey(executionId, wave);
    this.lists.set(key, targets.map((t) => ({ ...t })));
    return { bucket: 'memory', key, count: targets.length };
  }
  /** The list a Map would read. */
  read(ref: TargetListRef): FleetTarget[] {
    return this.lists.get(ref.key) ?? [];
  }
}
