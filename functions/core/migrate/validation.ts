/** The checks before a write: the database's state against the files, and the folder check. Both read only. */
import type pg from 'pg';
import { ValidationError, type Problem, type ValidationCommand } from '../errors.ts';
import type { MigrationFile } from './files.ts';
import { checkFolder, type FolderCheck } from './folder-check.ts';
import { namingWarnings } from './naming.ts';
import { renderSteps } from './render.ts';
import { findProblems, readState, type DbState, type Tables } from './state.ts';

/** The folder check for what `state` says is applied, module migrations rendered to SQL for it. */
export async function checkFolderFor(dir: string, files: MigrationFile[], state: DbState): Promise<FolderCheck> {
  const folder = await checkFolder({
    dir,
    files,
    applied: new Set(state.applied.map((r) => r.name)),
    renderModules: (chosen) => renderSteps(files, chosen, { strict: false }),
  });
  return { ...folder, warnings: [...folder.warnings, ...namingWarnings(files.map((f) => f.name))] };
}

/** State plus every check `up`/`plan` refuse on (folder and database); throws ValidationError, writes nothing. */
export async function validatedState(
  client: pg.ClientBase, t: Tables, dir: string, files: MigrationFile[], command: ValidationCommand,
): Promise<{ state: DbState; warnings: Problem[] }> {
  const state = await readState(client, t, files);
  const folder = await checkFolderFor(dir, files, state);
  const problems = [...findProblems(files, state), ...folder.problems];
  if (problems.length > 0) throw new ValidationError(problems, command);
  return { state, warnings: folder.warnings };
}

export async function checkedState(client: pg.ClientBase, t: Tables, files: MigrationFile[]): Promise<DbState> {
  const state = await readState(client, t, files);
  const problems = findProblems(files, state);
  if (problems.length > 0) throw new ValidationError(problems);
  return state;
}
