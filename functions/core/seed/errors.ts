/** Errors of the seeding step. Messages name the file, field or tenant and never carry a secret value. */
import { MigratorError } from '../errors.ts';

export interface SeedIssue {
  /** Seed file, relative to the seeds folder (e.g. tenants/etms.yaml). */
  file: string;
  /** Dotted path inside the file (e.g. users[1].email); empty for the whole file. */
  path: string;
  /** 1-based line in the file when known. */
  line?: number;
  message: string;
}

/** One or more seed files are invalid; nothing was written. */
export class SeedValidationError extends MigratorError {
  override name = 'SeedValidationError';
  constructor(readonly issues: SeedIssue[]) {
    super(SeedValidationError.format(issues));
  }
  static format(issues: SeedIssue[]): string {
    const shown = issues.slice(0, 20).map((i) => {
      const where = `${i.file}${i.line ? `:${i.line}` : ''}${i.path ? ` ${i.path}` : ''}`;
      return `  - ${where}: ${i.message}`;
    });
    const more = issues.length > 20 ? `\n  ... and ${issues.length - 20} more` : '';
    return `Invalid seed files (${issues.length} problem${issues.length === 1 ? '' : 's'}); nothing was written:\n${shown.join('\n')}${more}`;
  }
}

/** A failure while applying a valid seed (AWS call, secret shape, ...); the transaction was rolled back. */
export class SeedError extends MigratorError {
  override name = 'SeedError';
  constructor(
    message: string,
    readonly details: { tenant?: string; secret?: string; awsError?: string } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The stage is protected (prod) and the action is destructive. */
export class ProtectedStageError extends MigratorError {
  override name = 'ProtectedStageError';
  constructor(
    readonly stage: string,
    readonly action: string,
  ) {
    super(`Stage "${stage}" is protected: ${action} is refused, whoever asks. Protected stages only move forward (migrate up, seed).`);
  }
}
