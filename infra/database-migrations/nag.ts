/**
 * cdk-nag findings on `DatabaseMigrations`' functions and Provider framework that are deliberate; each
 * acknowledgement says why.
 */
import { Validations } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as cr from 'aws-cdk-lib/custom-resources';
import { acknowledgeLambdaPolicies, functionAndVersions, secretsUnderPrefix, wildcardFinding } from '../nag.ts';

/** cdk-nag findings on the migrator functions that are deliberate; each says why. Prefixes: only with seeds. */
export function acknowledgeFunctionFindings(fn: lambda.Function, prefixes?: { tenantPrefix: string; providerPrefix: string }) {
  const role = fn.role!;
  acknowledgeLambdaPolicies(role, "AWS managed policy limited to writing the function's own CloudWatch Logs; the log group is created by this construct.", { vpc: true });
  if (prefixes) acknowledgeSeedingGrants(role, prefixes);
}

/** The wildcards of the seed grants (grants.ts' grantSeeding) on `role`: the tenant and provider secret prefixes. */
export function acknowledgeSeedingGrants(role: iam.IRole, prefixes: { tenantPrefix: string; providerPrefix: string }) {
  Validations.of(role).acknowledge({
    id: wildcardFinding(secretsUnderPrefix(role, prefixes.tenantPrefix)),
    reason: 'Tenant secrets are created by the seeds at run time with names under this fixed prefix; the wildcard covers only that prefix (and the random suffix Secrets Manager appends).',
  });
  Validations.of(role).acknowledge({
    id: wildcardFinding(secretsUnderPrefix(role, prefixes.providerPrefix)),
    reason: 'Provider secrets referenced by the seeds live under this fixed prefix; read-only, and the wildcard also covers the random suffix Secrets Manager appends to secret ARNs.',
  });
}

export function acknowledgeProviderFindings(provider: cr.Provider, onEvent: lambda.Function) {
  // The framework's own function and role are defined inside aws-cdk-lib; acknowledge on the provider scope.
  acknowledgeLambdaPolicies(provider, 'CDK Provider framework function: AWS managed policy limited to its own CloudWatch Logs.');
  Validations.of(provider).acknowledge({
    id: wildcardFinding(functionAndVersions(onEvent)),
    reason: 'CDK Provider framework: invoke permission on the migrator function and its versions/aliases (the :* suffix), nothing else.',
  });
}
