export * from './types.ts';
export { MemoryLedger } from './memory-ledger.ts';
export { DynamoDbLedger, LEDGER_KEYS } from './dynamodb-ledger.ts';
export { listSecretTargets, mergeTargets, planWaves, restrictTargets, FleetTargetsError, type TargetSource, type CanaryOptions, type Waves } from './targets.ts';
export { summarize, failedTargetNames, fleetReason, type FleetSummary } from './summary.ts';
export { S3TargetLists, MemoryTargetLists, targetListKey, type TargetListRef, type TargetListStore } from './target-lists.ts';
