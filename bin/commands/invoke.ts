/**
 * `migrator invoke <action> --stage S`: runs an on-demand operation (status, plan, migrate, seed, reseed, runs)
 * in the stage's deployed operations function, through @aws-sdk/client-lambda, prints the result and exits
 * non-zero when the function reports an error. The function is found, in this order, from:
 *   --function-name; the outputs file `cdk deploy --outputs-file cdk-outputs.json` writes (output
 *   `...OperationsFunctionName` of the stack, default `PgTenantMigrator-<stage>`); the sample app's
 *   conventional name `pg-tenant-migrator-<stage>-ops`.
 * The endpoint follows the SDK's usual configuration (AWS_REGION, AWS_ENDPOINT_URL_LAMBDA, profiles).
 */
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { Command, InvalidArgumentError, Option } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { MigratorError } from '../../functions/core/errors.ts';
import { localActor } from './actor.ts';
import type { CliIO } from './migrate.ts';
import { operationsFunctionName, stackName } from '../../infra/names.ts';
import type { OperationPayload, OperationResult } from '../../functions/handlers/operations-payload.ts';
// The list itself, not the payload schema: startup must not load zod.
import { OPERATION_ACTIONS as ACTIONS } from '../../functions/handlers/operation-actions.ts';

export interface InvokeOptions {
  stage: string;
  tenant?: string[];
  reset?: boolean;
  plan?: boolean;
  limit?: number;
  stackName?: string;
  functionName?: string;
  outputsFile: string;
  region?: string;
  actor?: string;
  json?: boolean;
}

/** A failure the function reported (or the call itself); the CLI prints the message (no stack) and exits 1. */
export class InvokeError extends MigratorError {
  override name = 'InvokeError';
}

/** Which function to call, and how it was found (printed with --json for traceability). */
export function resolveFunctionName(o: Pick<InvokeOptions, 'stage' | 'stackName' | 'functionName' | 'outputsFile'>): { name: string; from: string } {
  if (o.functionName) return { name: o.functionName, from: '--function-name' };
  const stack = o.stackName ?? stackName(o.stage);
  if (existsSync(o.outputsFile)) {
    let outputs: Record<string, Record<string, string>>;
    try {
      outputs = JSON.parse(readFileSync(o.outputsFile, 'utf8'));
    } catch {
      throw new InvokeError(`${o.outputsFile} is not JSON (expected the file \`cdk deploy --outputs-file\` writes).`);
    }
    const own = outputs[stack];
    if (own) {
      const keys = Object.keys(own).filter((k) => k.includes('OperationsFunctionName'));
      if (keys.length === 1) return { name: own[keys[0]!]!, from: `${o.outputsFile} (${stack}.${keys[0]})` };
      if (keys.length > 1) {
        throw new InvokeError(
          `Stack ${stack} has ${keys.length} operations functions (${keys.join(', ')}): pick one with --function-name.`,
        );
      }
    } else if (o.stackName) {
      throw new InvokeError(`${o.outputsFile} has no outputs for stack ${stack}.`);
    }
  } else if (o.stackName) {
    throw new InvokeError(
      `No outputs file ${o.outputsFile}: write it with \`cdk deploy --outputs-file ${o.outputsFile}\`, or pass --function-name.`,
    );
  }
  return { name: operationsFunctionName(o.stage), from: 'conventional name' };
}

export async function buildPayload(action: string, o: InvokeOptions): Promise<OperationPayload> {
  const { describePayloadIssues, OperationPayload } = await import('../../functions/handlers/operations-payload.ts');
  const payload: Record<string, unknown> = { action };
  if (o.tenant?.length) payload.tenant = o.tenant.length === 1 ? o.tenant[0] : o.tenant;
  if (o.reset) payload.reset = true;
  if (o.plan) payload.plan = true;
  if (o.limit !== undefined) payload.limit = o.limit;
  payload.actor = o.actor ?? localActor();
  const parsed = OperationPayload.safeParse(payload);
  if (!parsed.success) throw new InvalidArgumentError(describePayloadIssues(parsed.error));
  return parsed.data;
}


/** Calls the function; resolves with its result, or throws InvokeError with the function's own message. */
export async function invokeOperation(
  functionName: string,
  payload: OperationPayload,
  options: { region?: string; client?: LambdaClient } = {},
): Promise<OperationResult> {
  const { InvokeCommand, LambdaClient } = await import('@aws-sdk/client-lambda');
  const client = options.client ?? new LambdaClient(options.region ? { region: options.region } : {});
  try {
    const out = await client.send(
      new InvokeCommand({ FunctionName: functionName, InvocationType: 'RequestResponse', Payload: Buffer.from(JSON.stringify(payload)) }),
    );
    const text = out.Payload ? Buffer.from(out.Payload).toString('utf8') : '';
    let body: any;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    if (out.FunctionError) {
      const message = typeof body === 'object' && body ? `${body.errorMessage ?? text}` : text;
      throw new InvokeError(`${functionName} failed: ${message}`);
    }
    if (!body || body.ok !== true) throw new InvokeError(`${functionName} returned an unexpected payload: ${text.slice(0, 500)}`);
    return body as OperationResult;
  } catch (e) {
    if (e instanceof InvokeError) throw e;
    const err = e as Error;
    throw new InvokeError(`Could not invoke ${functionName}: ${err.name}: ${err.message}`);
  } finally {
    if (!options.client) client.destroy();
  }
}

const collect = (v: string, prev: string[] = []) => [...prev, v];
const positiveInt = (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError('expected a whole number >= 1.');
  return Number(v);
};

export function registerInvokeCommands(program: Command, io: CliIO = { out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t) }): void {
  program
    .command('invoke')
    .description(
      'Run an on-demand operation in a deployed stage\'s operations function (Lambda): status, plan, migrate, seed, reseed, runs. ' +
        'A protected stage refuses reseed and --reset whoever asks. Exits 1 when the function reports an error.',
    )
    // `fleet` starts a DatabaseFleetMigrations execution (bin/commands/fleet.ts), not an operations-function call.
    .addArgument(new Command().createArgument('<action>', 'operation, or fleet').choices([...ACTIONS, 'fleet']))
    .option('--state-machine <arn>', 'fleet: the fleet state machine (skips the outputs file)')
    .requiredOption('--stage <stage>', 'stage to operate on (staging, prod)')
    .option('--tenant <slug>', 'tenant (repeatable); required for reseed', collect)
    .option('--reset', 'reseed: delete and recreate the tenants\' seeded data')
    .option('--plan', 'seed/reseed: show what would change, write nothing')
    .option('--limit <n>', 'runs: how many', positiveInt)
    .option('--stack-name <name>', 'stack whose outputs name the function (default PgTenantMigrator-<stage>)')
    .option('--function-name <name>', 'the operations function (skips the lookup)')
    .addOption(new Option('--outputs-file <file>', 'outputs written by `cdk deploy --outputs-file`').default('cdk-outputs.json'))
    .option('--region <region>', 'AWS region (default from the environment / profile)')
    .option('--actor <name>', 'who asks, for the audit trail (default MIGRATOR_ACTOR, else the OS user)')
    .option('--json', 'print the full result as JSON')
    .action(async (action: string, o: InvokeOptions & { stateMachine?: string }) => {
      if (action === 'fleet') return (await import('./fleet.ts')).fleetStart(o, io);
      const payload = await buildPayload(action, o);
      const fn = resolveFunctionName(o);
      const result = await invokeOperation(fn.name, payload, { region: o.region });
      if (result.stage !== o.stage) {
        throw new InvokeError(`${fn.name} serves stage "${result.stage}", not "${o.stage}": check --function-name / the outputs file.`);
      }
      if (o.json) {
        io.out(`${JSON.stringify({ function: fn.name, foundBy: fn.from, ...result }, null, 2)}\n`);
      } else {
        io.out(`${action} on ${result.stage} (${fn.name})${result.runId ? `, run ${result.runId}` : ''}:\n`);
        io.out(`${JSON.stringify(result.result, null, 2)}\n`);
      }
    });
}
