/**
 * Masks password literals a failing statement may quote (`PASSWORD '...'`, `password=...` in a URL or
 * conninfo). Applied where error text is made or stored (MigrationError, `migration_runs.error`), so the
 * CLI, the runs table, the Lambda's logs and CloudFormation's Reason all get the masked text.
 */
export function redact(text: string): string {
  return text
    .replace(/(PASSWORD\s+)(E?'(?:[^']|'')*')/gi, "$1'***'")
    .replace(/(password\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&'"]+)/gi, '$1***')
    .replace(/(\w+:\/\/[^:/\s]+:)([^@\s]+)(@)/g, '$1***$3');
}
