/**
 * The on-demand operations payload, shared by the Lambda handler (which validates what it receives) and
 * `migrator invoke` (which validates before calling). Same JSON for `aws lambda invoke --payload`.
 */
import * as z from 'zod';

import { OPERATION_ACTIONS, type OperationAction } from './operation-actions.ts';

export { OPERATION_ACTIONS, type OperationAction };

export const OperationPayload = z
  .object({
    action: z.enum(OPERATION_ACTIONS),
    /** Tenant slug(s); required for reseed, optional filter for seed. */
    tenant: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    /** reseed only: delete and recreate the tenants' seeded rows. Refused on a protected stage. */
    reset: z.boolean().optional(),
    /** runs only: how many (newest first); default 20. */
    limit: z.number().int().min(1).max(500).optional(),
    /** seed/reseed only: compute what would change, write nothing. */
    plan: z.boolean().optional(),
    /** Who asks, for the audit trail (free text, e.g. the person's user name). */
    actor: z.string().min(1).max(200).optional(),
  })
  .strict();
export type OperationPayload = z.input<typeof OperationPayload>;

/** Readable one-line list of what is wrong with a payload. */
export function describePayloadIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`).join('; ');
}

/** What a successful invocation returns. */
export interface OperationResult {
  ok: true;
  action: OperationAction;
  stage: string;
  runId?: string;
  result: unknown;
}
