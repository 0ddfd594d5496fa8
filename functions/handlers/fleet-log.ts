/**
 * The fleet functions' logger: one Powertools Logger per invocation with its keys fixed at creation
 * (execution ARN, target, wave). Not the shared per-environment logger of the single-database handlers:
 * the local fleet driver runs many workers in one process at once, and reset keys would cross targets.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';

export function fleetLogger(keys: Record<string, string | number | boolean | undefined>, context?: Context): Logger {
  const logger = new Logger({
    serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'migrator-fleet',
    persistentKeys: Object.fromEntries(Object.entries(keys).filter(([, v]) => v !== undefined)) as Record<string, string>,
  });
  if (context) logger.addContext(context);
  return logger;
}
