/**
 * The sample CDK app (entry point: bin/app.ts, `npx cdk synth [-c stage=prod]`, default stage: staging).
 * Synthesizes without AWS credentials: the environment is left agnostic unless CDK_DEFAULT_ACCOUNT/REGION
 * are set. Tests call buildApp() with their own App and synthesize themselves.
 */
import { App } from 'aws-cdk-lib';
import { fileURLToPath } from 'node:url';
import { MigratorStack, stackName, type StageName } from './stacks/migrator-stack.ts';

const STAGES: StageName[] = ['staging', 'prod'];
const root = (p: string) => fileURLToPath(new URL(`../${p}`, import.meta.url));

export function buildApp(app = new App()) {
  const stage = (app.node.tryGetContext('stage') ?? 'staging') as string;
  if (!STAGES.includes(stage as StageName)) {
    throw new Error(`Unknown stage "${stage}" (context "stage"): use one of ${STAGES.join(', ')}`);
  }
  const account = process.env.CDK_DEFAULT_ACCOUNT;
  const region = process.env.CDK_DEFAULT_REGION;
  const stack = new MigratorStack(app, stackName(stage), {
    stage: stage as StageName,
    env: account && region ? { account, region } : undefined,
    migrationsDir: root('migrations'),
    seedsDir: root('seeds'),
    runOn: (app.node.tryGetContext('runOn') as 'every-deploy' | 'content-change' | undefined) ?? 'every-deploy',
    description: `pg-tenant-migrator sample (${stage}): deploy-time migrations and tenant seeding`,
  });
  return { app, stack };
}
