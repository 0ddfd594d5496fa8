/**
 * Stage protection from stages.yaml (the CLI's `down` uses it): a protected stage
 * (prod) refuses destructive actions whoever asks, so the check lives here and not in a caller.
 */
import { ProtectedStageError } from './errors.ts';
import { protectedByName } from '../protected-stage.ts';
import { loadStage } from './load.ts';

export { ProtectedStageError };

/** Destructive actions a protected stage refuses. */
export type DestructiveAction = 'reset' | 'reseed' | 'down' | (string & {});

export interface StageGuardOptions {
  /** Seeds folder holding stages.yaml; default 'seeds'. */
  seedsDir?: string;
}

/** Whether the stage is marked `protected: true` in stages.yaml. Unknown stages are an error. */
export function isProtectedStage(stage: string, options: StageGuardOptions = {}): boolean {
  return loadStage(options.seedsDir ?? 'seeds', stage).protected;
}

/**
 * Throws ProtectedStageError when `stage` is protected. Call it before any destructive action.
 * A stage named `prod` or `production` is treated as protected even if stages.yaml forgets to say
 * so: the cheap belt to the file's braces.
 */
export function assertNotProtected(stage: string, action: DestructiveAction, options: StageGuardOptions = {}): void {
  if (protectedByName(stage) || isProtectedStage(stage, options)) {
    throw new ProtectedStageError(stage, action);
  }
}
