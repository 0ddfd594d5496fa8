/**
 * The one naming rule for protected stages, shared by the CLI, the Lambda handlers and the seed core: a stage
 * named `prod` or `production` refuses destructive actions even when stages.yaml (or the function's
 * PROTECTED_STAGE) forgets to say so. No imports, so any entry point can use it without loading the seed core.
 */
export function protectedByName(stage: string): boolean {
  return /^prod(uction)?$/i.test(stage);
}
