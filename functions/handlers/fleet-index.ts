/**
 * Lambda entry of DatabaseFleetMigrations (one bundle, several handlers): the Map's per-target worker, the
 * list-targets and summary steps, and the deploy custom resource (onEvent + isComplete). The create*
 * factories let the local fleet driver run the bundled code with an in-process ledger.
 */
export { createFleetWorker, fleetWorker, TargetFailedError } from './fleet-worker.ts';
export { createListTargets, fleetListTargets } from './fleet-list.ts';
export { createFleetSummary, fleetSummary } from './fleet-summary.ts';
export { createFleetDeploy, fleetDeployOnEvent, fleetDeployIsComplete } from './fleet-deploy.ts';
export { MemoryLedger } from '../core/fleet/memory-ledger.ts';
