import { userInfo } from 'node:os';

/**
 * Who runs a local command, for `migration_runs.actor` and the audit log: MIGRATOR_ACTOR when set (CI, a
 * shared machine), else the OS user. One rule for dev, the seed commands and invoke's default --actor, so a
 * run's row and its seed's audit entries name the same person.
 */
export function localActor(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MIGRATOR_ACTOR) return env.MIGRATOR_ACTOR;
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
