/**
 * A platform team's CDK app, made the way they make one: `cdk init app --language typescript` (this repo's
 * aws-cdk CLI, `--generate-only`, so offline), then the package installed from the `npm pack` tarball. Only
 * the generated test tooling (jest, swc) is dropped, and versions are pinned to what this repo's `npm ci`
 * put in the npm cache, so the install runs offline (`--prefer-offline`).
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export const REPO = new URL('../../', import.meta.url).pathname;
const repoPkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
const CDK_CLI = join(REPO, 'node_modules/aws-cdk/bin/cdk');

/** The environment for npm and the app's tools: none of the npm_* variables of an enclosing `npm test`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) && !/^npm_config_(cache|registry|userconfig)$/i.test(k)) continue;
    if (k === 'INIT_CWD' || k.startsWith('VITEST') || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  return { ...env, CDK_DISABLE_VERSION_CHECK: '1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...extra };
}

export function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}, timeoutMs = 300_000): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env: cleanEnv(env), encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
}

/** Like run(), but a non-zero exit throws with the command's output. */
export function must(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}, timeoutMs?: number): string {
  const r = run(cmd, args, cwd, env, timeoutMs);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}\n${r.error ?? ''}`);
  return r.stdout;
}

/** `npm pack` of this repository (built already: the tests' global setup rebuilds a stale dist/). */
export function packTarball(dest: string): string {
  // --ignore-scripts: `prepare` would rebuild dist/ under the other test files that are using it.
  const out = must('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dest], REPO);
  const [info] = JSON.parse(out) as Array<{ filename: string }>;
  return join(dest, info!.filename);
}

export interface ConsumerOptions {
  /** Folder to create the app in (its name becomes the app's name). */
  dir: string;
  tarball: string;
  module: 'commonjs' | 'esm';
  awsCdkLib: string;
  /** Compiler options added to the generated tsconfig (stricter checks). */
  strict?: Record<string, unknown>;
}

/**
 * The VPC: a new one in the CommonJS app; in the ES-module app an existing one imported by attributes, since
 * aws-cdk-lib's own \`Vpc\` class is not assignable to its \`IVpc\` under exactOptionalPropertyTypes.
 */
const VPC = {
  commonjs: `    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'data', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
    });`,
  esm: `    const vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
      vpcId: 'vpc-0123456789abcdef0',
      availabilityZones: ['eu-west-1a', 'eu-west-1b'],
      isolatedSubnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
      vpcCidrBlock: '10.0.0.0/16',
    });`,
};

const STACK = (module: 'commonjs' | 'esm') => `import * as cdk from 'aws-cdk-lib/core';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as rds from 'aws-cdk-lib/aws-rds';
import { Construct } from 'constructs';
import { DatabaseMigrations, type DatabaseMigrationsProps } from 'pg-tenant-migrator/cdk';

export class ConsumerStack extends cdk.Stack {
  readonly migrations: DatabaseMigrations;

  constructor(scope: Construct, id: string, props?: cdk.StackProps) {
    super(scope, id, props);
${VPC[module]}
    vpc.addInterfaceEndpoint('SecretsManager', { service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER });
    vpc.addInterfaceEndpoint('CloudFormation', { service: ec2.InterfaceVpcEndpointAwsService.CLOUDFORMATION });
    const database = new rds.DatabaseInstance(this, 'Database', {
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17_6 }),
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      credentials: rds.Credentials.fromGeneratedSecret('app_admin'),
      databaseName: 'app',
    });
    const migrationProps: DatabaseMigrationsProps = {
      database,
      databaseSecret: database.secret!,
      vpc,
      migrationsDir: 'migrations',
      stage: 'staging',
    };
    this.migrations = new DatabaseMigrations(this, 'Migrations', migrationProps);
    // The application deploys after its schema.
    const api = new lambda.Function(this, 'Api', {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => "ok";'),
      vpc,
    });
    api.node.addDependency(this.migrations);
    new cdk.CfnOutput(this, 'Operations', { value: this.migrations.operationsFunction.functionName });
  }
}
`;

/** Two SQL migrations and one TypeScript migration, as the team writes them. */
export const MIGRATIONS: Record<string, string> = {
  '0001_accounts.sql': '-- Up Migration\nCREATE TABLE accounts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL);\n-- Down Migration\nDROP TABLE accounts;\n',
  '0002_invoices.sql':
    '-- Up Migration\nCREATE TABLE invoices (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts, total numeric NOT NULL);\n-- Down Migration\nDROP TABLE invoices;\n',
  '0003_invoice_index.ts': `import type { MigrationBuilder } from 'pg-tenant-migrator';

export async function up(pgm: MigrationBuilder): Promise<void> {
  pgm.createIndex('invoices', 'account_id', { name: 'invoices_account_idx' });
}

export async function down(pgm: MigrationBuilder): Promise<void> {
  pgm.dropIndex('invoices', 'account_id', { name: 'invoices_account_idx' });
}
`,
};
export const LATER_MIGRATION = {
  '0004_invoice_notes.sql': '-- Up Migration\nALTER TABLE invoices ADD COLUMN note text;\n-- Down Migration\nALTER TABLE invoices DROP COLUMN note;\n',
};

/** Generates the app, writes its stack and migrations, installs the tarball. Returns the app folder. */
export function createConsumerApp(o: ConsumerOptions): string {
  mkdirSync(o.dir, { recursive: true });
  must(process.execPath, [CDK_CLI, 'init', 'app', '--language', 'typescript', '--generate-only'], o.dir);
  const name = o.dir.split('/').at(-1)!;

  // Test tooling of the template is not what is being tried here (and not in the offline cache).
  rmSync(join(o.dir, 'jest.config.js'), { force: true });
  rmSync(join(o.dir, 'test'), { recursive: true, force: true });
  const pkgFile = join(o.dir, 'package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
  for (const dep of ['jest', '@types/jest', '@swc/core', '@swc/jest']) delete pkg.devDependencies[dep];
  delete pkg.scripts.test;
  // Pinned to the versions in the cache (cdk init writes ranges: ^2.275.0, ~7.0.2, ^4.23.0, ^24).
  Object.assign(pkg.devDependencies, {
    '@types/node': repoPkg.devDependencies['@types/node'],
    typescript: repoPkg.devDependencies.typescript,
    tsx: repoPkg.devDependencies.tsx,
    'aws-cdk': repoPkg.devDependencies['aws-cdk'],
  });
  pkg.dependencies = { 'aws-cdk-lib': o.awsCdkLib, constructs: repoPkg.devDependencies.constructs, 'pg-tenant-migrator': `file:${o.tarball}` };
  if (o.module === 'esm') pkg.type = 'module';
  writeFileSync(pkgFile, `${JSON.stringify(pkg, null, 2)}\n`);

  const tsconfigFile = join(o.dir, 'tsconfig.json');
  const tsconfig = JSON.parse(readFileSync(tsconfigFile, 'utf8'));
  tsconfig.compilerOptions.types = ['node'];
  Object.assign(tsconfig.compilerOptions, o.strict ?? {});
  writeFileSync(tsconfigFile, `${JSON.stringify(tsconfig, null, 2)}\n`);

  // The generated entry imports the generated stack; ours replaces it (ESM needs the .js extension).
  const ext = o.module === 'esm' ? '.js' : '';
  rmSync(join(o.dir, 'lib'), { recursive: true, force: true });
  mkdirSync(join(o.dir, 'lib'));
  writeFileSync(join(o.dir, 'lib', 'consumer-stack.ts'), STACK(o.module));
  writeFileSync(
    join(o.dir, 'bin', `${name}.ts`),
    `#!/usr/bin/env node\nimport * as cdk from 'aws-cdk-lib/core';\nimport { ConsumerStack } from '../lib/consumer-stack${ext}';\n\nconst app = new cdk.App();\nnew ConsumerStack(app, 'Consumer');\n`,
  );
  mkdirSync(join(o.dir, 'migrations'));
  for (const [f, text] of Object.entries(MIGRATIONS)) writeFileSync(join(o.dir, 'migrations', f), text);

  must('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], o.dir, {}, 600_000);
  return o.dir;
}

export interface SynthesizedAsset {
  template: { Resources: Record<string, { Type: string; Properties: Record<string, any>; Metadata?: Record<string, any> }> };
  /** The migrator function's asset folder in the app's cdk.out. */
  dir: string;
  files: string[];
  environment: Record<string, unknown>;
  properties: Record<string, string>;
}

/** `cdk synth` as the team runs it (cdk.json's app: `npx tsc && npx tsx bin/<name>.ts`). */
export function synth(dir: string): SynthesizedAsset {
  rmSync(join(dir, 'cdk.out'), { recursive: true, force: true });
  must(join(dir, 'node_modules/.bin/cdk'), ['synth', '--quiet', '--no-notices'], dir, {}, 300_000);
  const template = JSON.parse(readFileSync(join(dir, 'cdk.out', 'Consumer.template.json'), 'utf8'));
  const resources = Object.values(template.Resources) as SynthesizedAsset['template']['Resources'][string][];
  const fn = resources.find((r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Handler === 'index.onEvent');
  const cr = resources.find((r) => r.Type === 'Custom::DatabaseMigrations');
  if (!fn || !cr) throw new Error('the template has no migrator function or Custom::DatabaseMigrations');
  const assetDir = join(dir, 'cdk.out', fn.Metadata!['aws:asset:path']);
  const { ServiceToken: _t, ...properties } = cr.Properties;
  return { template, dir: assetDir, files: listFiles(assetDir), environment: fn.Properties.Environment.Variables, properties };
}

export function listFiles(root: string): string[] {
  return (readdirSync(root, { recursive: true }) as string[])
    .filter((f) => statSync(join(root, f)).isFile())
    .map((f) => relative(root, join(root, f)))
    .sort();
}
