/**
 * The on-demand operations' names: one list for the payload schema (operations-payload.ts) and for
 * `migrator invoke`'s argument choices, which must not load zod at startup.
 */
export const OPERATION_ACTIONS = ['status', 'plan', 'migrate', 'seed', 'reseed', 'runs'] as const;
export type OperationAction = (typeof OPERATION_ACTIONS)[number];
