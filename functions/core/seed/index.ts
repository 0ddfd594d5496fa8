/** Tenant seeding: public API. */
export { seed, type SeedOptions } from './seed.ts';
export { applySeed, verificationCounts, type ApplyOptions } from './apply.ts';
export { loadSeeds, loadStage, parseSeedText, type SeedSet, type TenantSeed, type StageSeed, type LoadOptions, type Entry } from './load.ts';
export { assertNotProtected, isProtectedStage, type DestructiveAction } from './stages.ts';
export { SeedError, SeedValidationError, ProtectedStageError, type SeedIssue } from './errors.ts';
export { createAwsClients, type SeedAwsClients, type AwsClientOptions } from './aws.ts';
export { rotateTenantApiKey, confirmTenantApiKey, type RotateOptions, type RotateResult, type ConfirmResult } from './rotate.ts';
export { apiKeySecretName, hashApiKey } from './api-keys.ts';
export { formatSummary, SEEDED_TABLES, type SeedSummary, type SeededTable, type TableChanges, type Change } from './report.ts';
export { writeJsonSchemas, staleJsonSchemas, writeSeedConfigSchema, seedConfigSchemaStale } from './json-schema.ts';
export { loadModel, builtinModel, parseModel, MODEL_FILE } from './model-load.ts';
export { encryptionContextKeys, modelTables, seedModelJsonSchema, type SeedModel, type Section, type Field } from './model.ts';
export { SEED_LOCK_TABLE } from './apply/lock.ts';
export { recordRun, listRuns, type RunRow } from '../run-history.ts';
