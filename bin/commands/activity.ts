/**
 * What the CLI is doing right now (the command, the last progress line), so that a SIGINT/SIGTERM can
 * say what it interrupted. Written by the program's preAction hook and the progress callback.
 */
export const activity: { command?: string; last?: string } = {};

/** The one line printed when `signal` ends the process. */
export function interruptedLine(signal: string): string {
  const last = activity.last?.split("\n")[0]?.slice(0, 120);
  const what = activity.command ? `\`migrator ${activity.command}\`${last ? ` (last step: ${last})` : ''}` : 'migrator';
  return (
    `${signal}: interrupted ${what}. Its database session ends with the process, so PostgreSQL rolls back the ` +
    'transaction in progress and releases the migration lock; what was committed before stays.\n'
  );
}
