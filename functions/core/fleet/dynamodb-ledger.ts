/**
 * The ledger in DynamoDB: one item per (execution, target), partition key `executionId`, sort key `target`,
 * written by the fleet worker, read by the summary step and `migrator fleet status|retry`. Items expire
 * (`expiresAt`, a TTL attribute) after `retentionDays`; each target's own run history stays in its database.
 */
import { DynamoDBClient, PutItemCommand, QueryCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import type { LedgerEntry, LedgerStore } from './types.ts';

export const LEDGER_KEYS = { partition: 'executionId', sort: 'target', ttl: 'expiresAt' } as const;

export interface DynamoDbLedgerOptions {
  tableName: string;
  client?: DynamoDBClient;
  /** @default 90 */
  retentionDays?: number;
}

export class DynamoDbLedger implements LedgerStore {
  private readonly client: DynamoDBClient;
  constructor(private readonly options: DynamoDbLedgerOptions) {
    this.client = options.client ?? new DynamoDBClient({});
  }

  async record(e: LedgerEntry): Promise<void> {
    const expiresAt = Math.floor(Date.now() / 1000) + (this.options.retentionDays ?? 90) * 86_400;
    const item: Record<string, AttributeValue> = {
      executionId: { S: e.executionId },
      target: { S: e.target },
      secretId: { S: e.secretId },
      wave: { S: e.wave },
      runId: { S: e.runId },
      outcome: { S: e.outcome },
      // A DynamoDB list (not a string set): order matters and it may be empty.
      migrationsApplied: { L: e.migrationsApplied.map((m) => ({ S: m })) },
      lastMigration: e.lastMigration === null ? { NULL: true } : { S: e.lastMigration },
      durationMs: { N: String(e.durationMs) },
      finishedAt: { S: e.finishedAt },
      expiresAt: { N: String(expiresAt) },
    };
    if (e.error !== undefined) item.error = { S: e.error };
    if (e.errorName !== undefined) item.errorName = { S: e.errorName };
    if (e.runner !== undefined) item.runner = { S: e.runner };
    if (e.longRunning?.length) item.longRunning = { L: e.longRunning.map((m) => ({ S: m })) };
    if (e.buildId !== undefined) item.buildId = { S: e.buildId };
    await this.client.send(new PutItemCommand({ TableName: this.options.tableName, Item: item }));
  }

  async list(executionId: string): Promise<LedgerEntry[]> {
    const out: LedgerEntry[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.options.tableName,
          KeyConditionExpression: '#e = :e',
          ExpressionAttributeNames: { '#e': LEDGER_KEYS.partition },
          ExpressionAttributeValues: { ':e': { S: executionId } },
          ExclusiveStartKey: start,
          // Strongly consistent: `fleet status` right after the last worker wrote must see its entry.
          ConsistentRead: true,
        }),
      );
      for (const item of page.Items ?? []) out.push(fromItem(item));
      start = page.LastEvaluatedKey;
    } while (start);
    return out.sort((a, b) => a.target.localeCompare(b.target));
  }

  destroy(): void {
    if (!this.options.client) this.client.destroy();
  }
}

function fromItem(i: Record<string, AttributeValue>): LedgerEntry {
  const s = (k: string) => i[k]?.S ?? '';
  return {
    executionId: s('executionId'),
    target: s('target'),
    secretId: s('secretId'),
    wave: s('wave') === 'canary' ? 'canary' : 'rest',
    runId: s('runId'),
    outcome: s('outcome') === 'succeeded' ? 'succeeded' : s('outcome') === 'running' ? 'running' : 'failed',
    migrationsApplied: (i.migrationsApplied?.L ?? []).map((v) => v.S ?? ''),
    lastMigration: i.lastMigration?.S ?? null,
    error: i.error?.S,
    errorName: i.errorName?.S,
    durationMs: Number(i.durationMs?.N ?? 0),
    finishedAt: s('finishedAt'),
    ...(i.runner?.S ? { runner: i.runner.S === 'codebuild' ? ('codebuild' as const) : ('lambda' as const) } : {}),
    ...(i.longRunning?.L ? { longRunning: i.longRunning.L.map((v) => v.S ?? '') } : {}),
    ...(i.buildId?.S ? { buildId: i.buildId.S } : {}),
  };
}
