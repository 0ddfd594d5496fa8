/**
 * Where the migrator functions run in someone else's VPC, and how they reach the AWS APIs they call:
 * Secrets Manager always (the database secret), CloudFormation always (the deploy function recognises a
 * rollback Update by its stack's status, without the database), KMS with seeds. In isolated subnets that
 * takes interface endpoints; a function without them would wait until its timeout on the first deploy (or,
 * without CloudFormation, could not tell a rollback from an update when the database is down, and strand the
 * stack in UPDATE_ROLLBACK_FAILED), so a VPC of this app that lacks one fails the synth instead, naming it.
 */
import { Annotations, CfnResource, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';

/**
 * How the migrator reaches Secrets Manager and CloudFormation (always) and KMS (with seeds) from isolated subnets.
 * - `'check'`: at synth, a VPC defined in this app must have an interface endpoint for each; a missing one
 *   fails the synth naming it. An imported VPC (`Vpc.fromLookup`, `fromVpcAttributes`) cannot be inspected:
 *   a warning says so.
 * - `'create'`: the construct adds the missing interface endpoints (private DNS, in the function's subnets).
 *   Each costs an hourly fee per availability zone.
 * - `'none'`: no check; the VPC reaches the APIs another way (a proxy, endpoints in a shared VPC).
 * Subnets with a route to the internet (PRIVATE_WITH_EGRESS, PUBLIC) need no endpoint and are not checked.
 */
export type EndpointMode = 'check' | 'create' | 'none';

/**
 * The default subnets: isolated when the VPC has any (a database's usual home), else private with egress
 * (what `new ec2.Vpc(this, 'Vpc')` makes); a VPC with neither needs an explicit `vpcSubnets`.
 */
export function defaultSubnets(vpc: ec2.IVpc, path: string): ec2.SubnetSelection {
  if (vpc.isolatedSubnets.length > 0) return { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
  if (vpc.privateSubnets.length > 0) return { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
  throw new Error(
    `DatabaseMigrations ${path}: vpc ${vpc.node.path} has no isolated and no private subnets; set vpcSubnets to the subnets the ` +
      'migrator functions should run in (they must reach the database and Secrets Manager).',
  );
}

interface Service {
  name: string;
  service: ec2.InterfaceVpcEndpointAwsService;
  /** Matches the endpoint's resolved ServiceName (com.amazonaws.<region>.<short name>). */
  pattern: RegExp;
}

const SECRETS_MANAGER: Service = { name: 'Secrets Manager', service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER, pattern: /\.secretsmanager(-fips)?"/ };
const KMS: Service = { name: 'KMS', service: ec2.InterfaceVpcEndpointAwsService.KMS, pattern: /\.kms(-fips)?"/ };
/**
 * The rollback check asks the stack's status (DescribeStacks). Without it the check falls back to the run
 * history, which needs the database: a rollback during a database outage would fail and strand the stack.
 */
const CLOUDFORMATION: Service = { name: 'CloudFormation', service: ec2.InterfaceVpcEndpointAwsService.CLOUDFORMATION, pattern: /\.cloudformation(-fips)?"/ };

/** The constant's name in ec2.InterfaceVpcEndpointAwsService, for the message's code snippet. */
const CONSTANT = new Map<Service, string>([[SECRETS_MANAGER, 'SECRETS_MANAGER'], [KMS, 'KMS'], [CLOUDFORMATION, 'CLOUDFORMATION']]);

export interface EndpointOptions {
  vpc: ec2.IVpc;
  subnets: ec2.SubnetSelection;
  seeds: boolean;
  mode: EndpointMode;
}

/** Adds the endpoint check (at synth, once the whole app exists) or the endpoints themselves. */
export function requireEndpoints(scope: Construct, o: EndpointOptions): void {
  if (o.mode === 'none' || !isolated(o.vpc, o.subnets)) return;
  const needed = o.seeds ? [SECRETS_MANAGER, KMS, CLOUDFORMATION] : [SECRETS_MANAGER, CLOUDFORMATION];
  const inApp = CfnResource.isCfnResource(o.vpc.node.defaultChild);
  if (o.mode === 'create') {
    const found = inApp ? endpointsOf(scope, o.vpc) : [];
    for (const s of needed.filter((s) => !found.some((f) => s.pattern.test(f)))) {
      const endpoint = new ec2.InterfaceVpcEndpoint(scope, `${s.name.replace(/\s/g, '')}Endpoint`, {
        vpc: o.vpc,
        service: s.service,
        subnets: o.subnets,
        privateDnsEnabled: true,
      });
      Validations.of(endpoint).acknowledge({
        id: 'AwsSolutions-EC23',
        reason: 'Endpoint security group admits HTTPS from the VPC CIDR only (an intrinsic the rule cannot evaluate), not 0.0.0.0/0.',
      });
    }
    return;
  }
  if (!inApp) {
    Annotations.of(scope).addWarningV2(
      'pg-tenant-migrator:endpoints',
      `The migrator runs in isolated subnets of an imported VPC, whose endpoints cannot be checked: it needs interface endpoints for ${list(needed.map((s) => s.name), 'and')}. ` +
        "Set endpoints: 'none' once they exist, or endpoints: 'create'.",
    );
    return;
  }
  // Checked once the app is complete: endpoints may be added after this construct.
  scope.node.addValidation({
    validate: () => {
      const found = endpointsOf(scope, o.vpc);
      const missing = needed.filter((s) => !found.some((f) => s.pattern.test(f)));
      if (missing.length === 0) return [];
      return [
        `DatabaseMigrations ${scope.node.path}: the migrator runs in isolated subnets of ${o.vpc.node.path}, which has no interface endpoint for ` +
          `${list(missing.map((s) => s.name), 'or')} (needed to ${list(missing.map(why), 'and')}); ` +
          (missing.some((s) => s !== CLOUDFORMATION)
            ? 'the first deploy would time out. '
            : 'a rollback while the database is unreachable would fail and leave the stack in UPDATE_ROLLBACK_FAILED. ') +
          `Add ${list(missing.map((s) => `vpc.addInterfaceEndpoint('${s.name.replace(/\s/g, '')}', { service: ec2.InterfaceVpcEndpointAwsService.${CONSTANT.get(s)} })`), 'and')}, ` +
          "set endpoints: 'create', run it in subnets with egress (vpcSubnets), or set endpoints: 'none' if the VPC reaches them another way.",
      ];
    },
  });
}

/** "a, b and c". */
function list(items: string[], last: 'and' | 'or'): string {
  return items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} ${last} ${items.at(-1)}`;
}

function why(s: Service): string {
  if (s === KMS) return 'encrypt tenant keys';
  if (s === CLOUDFORMATION) return 'recognise a rollback Update from the stack status, without the database';
  return 'read the database secret';
}

/** Whether the selection is isolated subnets (by type, or every chosen subnet being one of the VPC's isolated ones). */
function isolated(vpc: ec2.IVpc, selection: ec2.SubnetSelection): boolean {
  if (selection.subnetType !== undefined) return selection.subnetType === ec2.SubnetType.PRIVATE_ISOLATED;
  const chosen = vpc.selectSubnets(selection).subnets;
  return chosen.length > 0 && chosen.every((s) => vpc.isolatedSubnets.includes(s));
}

/** Resolved ServiceNames (as JSON) of the interface endpoints of `vpc` anywhere in the app. */
function endpointsOf(scope: Construct, vpc: ec2.IVpc): string[] {
  const stack = Stack.of(vpc);
  const vpcId = JSON.stringify(stack.resolve(vpc.vpcId));
  return scope.node.root.node
    .findAll()
    .filter((c): c is ec2.CfnVPCEndpoint => CfnResource.isCfnResource(c) && c.cfnResourceType === 'AWS::EC2::VPCEndpoint')
    .filter((e) => JSON.stringify(stack.resolve(e.vpcId)) === vpcId)
    .map((e) => JSON.stringify(stack.resolve(e.serviceName)));
}
