/**
 * A stack with DatabaseFleetMigrations around a given migrations folder, synthesized with cdk-nag, for
 * template assertions, the ASL checks and the local driver (which runs the real bundled asset).
 */
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { AwsSolutionsChecks } from 'cdk-nag';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { DatabaseFleetMigrations, type DatabaseFleetMigrationsProps } from '../../../infra/fleet/database-fleet-migrations.ts';
import { fileURLToPath } from 'node:url';

const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface SynthesizedFleet {
  template: Template;
  json: Record<string, any>;
  /** The state machine's ASL, parsed (tokens resolved to placeholders). */
  asl: Record<string, any>;
  /** Asset directory of the fleet functions (the bundle: fleet-index.mjs as index.mjs, migrations/). */
  assetDir: string;
  nagError?: string;
  cleanup(): void;
}

export function synthFleet(
  props: Partial<DatabaseFleetMigrationsProps> & { migrationsDir: string },
  extra?: (stack: Stack, vpc: ec2.Vpc) => void,
  /** Props that need the stack (e.g. static targets' secrets), merged over `props`. */
  propsOf?: (stack: Stack) => Partial<DatabaseFleetMigrationsProps>,
): SynthesizedFleet {
  // Under the project so the bundle resolves the AWS SDK from node_modules, as it resolves the runtime's on Lambda.
  const outdir = join(PROJECT_ROOT, 'cdk.out', `.fleet-${randomBytes(4).toString('hex')}`);
  mkdirSync(outdir, { recursive: true });
  const app = new App({ outdir });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new Stack(app, 'FleetTest');
  const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 0, subnetConfiguration: [{ name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
  Validations.of(vpc).acknowledge({ id: 'AwsSolutions-VPC7', reason: 'Test VPC without flow logs.' });
  new DatabaseFleetMigrations(stack, 'Fleet', {
    stage: 'staging',
    vpc,
    targets: { secretNamePrefix: 'migrator/staging/fleet/' },
    ...props,
    ...propsOf?.(stack),
  });
  extra?.(stack, vpc);
  let nagError: string | undefined;
  try {
    app.synth();
  } catch (e) {
    nagError = (e as Error).message;
  }
  const json = JSON.parse(readFileSync(join(outdir, 'FleetTest.template.json'), 'utf8'));
  const resources = Object.values(json.Resources as Record<string, any>);
  const sm = Object.entries(json.Resources as Record<string, any>).find(([id, r]) => r.Type === 'AWS::StepFunctions::StateMachine' && id.startsWith('FleetStateMachine'))![1];
  const asl = JSON.parse(flattenJoin(sm.Properties.DefinitionString));
  const worker = resources.find((r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Handler === 'index.fleetWorker');
  const assetDir = join(outdir, `asset.${String(worker.Properties.Code.S3Key).replace(/\.zip$/, '')}`);
  return { template: Template.fromJSON(json), json, asl, assetDir, nagError, cleanup: () => rmSync(outdir, { recursive: true, force: true }) };
}

/** Fn::Join of strings and tokens -> one string with tokens as `"<Ref>"` placeholders (valid JSON in context). */
function flattenJoin(v: any): string {
  if (typeof v === 'string') return v;
  if (v['Fn::Join']) return (v['Fn::Join'][1] as any[]).map((p) => (typeof p === 'string' ? p : p?.Ref === 'AWS::Partition' ? 'aws' : `arn:aws:lambda:us-east-1:000000000000:function:${JSON.stringify(p).replace(/[^A-Za-z0-9]/g, '')}`)).join('');
  throw new Error(`unexpected DefinitionString ${JSON.stringify(v).slice(0, 200)}`);
}
