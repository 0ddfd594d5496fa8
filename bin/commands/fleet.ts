/**
 * `migrator fleet status|retry|start`: the deployed fleet (DatabaseFleetMigrations) from the command line.
 *   status --execution ARN        counts by outcome and the failed targets with their reasons (the ledger)
 *   retry --failed --execution ARN  starts an execution of only that execution's failed targets
 *   start                          starts an execution of the whole fleet (also `migrator invoke fleet`)
 * The ledger table and state machine come from --ledger-table / --state-machine, else the outputs file
 * `cdk deploy --outputs-file cdk-outputs.json` writes (outputs `...FleetLedgerTableName`,
 * `...FleetStateMachineArn` of stack PgTenantMigrator-<stage>). Endpoints follow the SDK's usual configuration.
 */
import { Command, Option } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { MigratorError } from '../../functions/core/errors.ts';
import { stackName } from '../../infra/names.ts';
import type { CliIO } from './migrate.ts';

export class FleetCliError extends MigratorError {
  override name = 'FleetCliError';
}

export interface FleetCliOptions {
  stage: string;
  execution?: string;
  failed?: boolean;
  ledgerTable?: string;
  stateMachine?: string;
  stackName?: string;
  outputsFile: string;
  region?: string;
  json?: boolean;
}

/** A stack output whose key contains `key`, from the outputs file, or undefined. */
function fromOutputs(o: FleetCliOptions, key: string): { value: string; from: string } | undefined {
  if (!existsSync(o.outputsFile)) return undefined;
  let outputs: Record<string, Record<string, string>>;
  try {
    outputs = JSON.parse(readFileSync(o.outputsFile, 'utf8'));
  } catch {
    throw new FleetCliError(`${o.outputsFile} is not JSON (expected the file \`cdk deploy --outputs-file\` writes).`);
  }
  const stack = o.stackName ?? stackName(o.stage);
  const keys = Object.keys(outputs[stack] ?? {}).filter((k) => k.includes(key));
  if (keys.length > 1) throw new FleetCliError(`Stack ${stack} has ${keys.length} fleets (${keys.join(', ')}): pick one with --${key === 'FleetLedgerTableName' ? 'ledger-table' : 'state-machine'}.`);
  return keys.length ? { value: outputs[stack]![keys[0]!]!, from: `${o.outputsFile} (${stack}.${keys[0]})` } : undefined;
}

export function resolveLedgerTable(o: FleetCliOptions): string {
  const found = o.ledgerTable ?? fromOutputs(o, 'FleetLedgerTableName')?.value;
  if (!found) throw new FleetCliError(`No fleet ledger table for stage ${o.stage}: pass --ledger-table, or write ${o.outputsFile} with \`cdk deploy --outputs-file ${o.outputsFile}\`.`);
  return found;
}

export function resolveStateMachine(o: FleetCliOptions): string {
  const found = o.stateMachine ?? fromOutputs(o, 'FleetStateMachineArn')?.value;
  if (!found) throw new FleetCliError(`No fleet state machine for stage ${o.stage}: pass --state-machine ARN, or write ${o.outputsFile} with \`cdk deploy --outputs-file ${o.outputsFile}\`.`);
  return found;
}

async function ledgerOf(o: FleetCliOptions) {
  const { DynamoDbLedger } = await import('../../functions/core/fleet/dynamodb-ledger.ts');
  const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
  const client = new DynamoDBClient(o.region ? { region: o.region } : {});
  return { ledger: new DynamoDbLedger({ tableName: resolveLedgerTable(o), client }), close: () => client.destroy() };
}

/** Starts an execution; returns its ARN. */
export async function startExecution(o: FleetCliOptions, input: Record<string, unknown>): Promise<string> {
  const { SFNClient, StartExecutionCommand } = await import('@aws-sdk/client-sfn');
  const arn = resolveStateMachine(o);
  const client = new SFNClient(o.region ? { region: o.region } : {});
  try {
    const out = await client.send(new StartExecutionCommand({ stateMachineArn: arn, input: JSON.stringify(input) }));
    return out.executionArn!;
  } catch (e) {
    throw new FleetCliError(`Could not start an execution of ${arn}: ${(e as Error).name}: ${(e as Error).message}`);
  } finally {
    client.destroy();
  }
}

function requireExecution(o: FleetCliOptions): string {
  if (!o.execution) throw new FleetCliError('--execution ARN is required (the execution ARN printed by `migrator invoke fleet`, the deploy, or the console).');
  return o.execution;
}

export async function fleetStart(o: FleetCliOptions, io: CliIO): Promise<void> {
  const arn = await startExecution(o, { trigger: 'invoke' });
  if (o.json) io.out(`${JSON.stringify({ executionArn: arn, stage: o.stage }, null, 2)}\n`);
  else io.out(`Started fleet execution ${arn}\nFollow it with: migrator fleet status --stage ${o.stage} --execution ${arn}\n`);
}

const common = (c: Command) =>
  c
    .requiredOption('--stage <stage>', 'stage (staging, prod)')
    .option('--ledger-table <name>', 'the fleet ledger table (skips the outputs file)')
    .option('--state-machine <arn>', 'the fleet state machine (skips the outputs file)')
    .option('--stack-name <name>', 'stack whose outputs name them (default PgTenantMigrator-<stage>)')
    .addOption(new Option('--outputs-file <file>', 'outputs written by `cdk deploy --outputs-file`').default('cdk-outputs.json'))
    .option('--region <region>', 'AWS region (default from the environment / profile)')
    .option('--json', 'print the result as JSON');

export function registerFleetCommands(program: Command, io: CliIO): void {
  const fleet = program.command('fleet').description('A fleet of databases migrated by Step Functions (DatabaseFleetMigrations): status, retry, start.');

  common(fleet.command('status'))
    .description('Counts by outcome and the failed targets with their reasons, from the execution\'s ledger.')
    .option('--execution <arn>', 'execution ARN')
    .action(async (o: FleetCliOptions) => {
      const execution = requireExecution(o);
      const { fleetStatus } = await import('../../functions/core/fleet/commands.ts');
      const { ledger, close } = await ledgerOf(o);
      try {
        const s = await fleetStatus(ledger, execution);
        if (o.json) return io.out(`${JSON.stringify(s, null, 2)}\n`);
        io.out(`Fleet execution ${s.executionId}\n  ${s.succeeded} succeeded, ${s.failed} failed${s.running ? `, ${s.running} running in CodeBuild` : ''} (${s.succeeded + s.failed + s.running} targets recorded; ${s.migrationsApplied} migrations applied)\n`);
        for (const r of s.runningTargets) io.out(`  running: ${r.target} (long-running: ${r.longRunning.join(', ')}${r.buildId ? `; build ${r.buildId}` : ''})\n`);
        if (s.failed) {
          io.out('Failed targets:\n');
          for (const f of s.failedTargets) io.out(`  ${f.target} [${f.wave}${f.errorName ? `, ${f.errorName}` : ''}]: ${f.error}\n`);
          io.out(`Re-run them with: migrator fleet retry --failed --stage ${o.stage} --execution ${s.executionId}\n`);
        }
      } finally {
        close();
      }
    });

  common(fleet.command('retry'))
    .description('Start an execution of only the failed targets of an execution.')
    .option('--execution <arn>', 'execution whose failed targets to re-run')
    .option('--failed', 'required: re-run the failed targets (the only retry mode)')
    .action(async (o: FleetCliOptions) => {
      if (!o.failed) throw new FleetCliError('retry needs --failed (re-run the failed targets of --execution).');
      const execution = requireExecution(o);
      const { retryFailed } = await import('../../functions/core/fleet/commands.ts');
      const { ledger, close } = await ledgerOf(o);
      try {
        const r = await retryFailed(ledger, execution, (input) => startExecution(o, input));
        if (o.json) return io.out(`${JSON.stringify(r, null, 2)}\n`);
        if (!r.executionId) io.out(`No failed targets in ${execution}: nothing to retry.\n`);
        else io.out(`Retrying ${r.targets.length} failed target(s) (${r.targets.slice(0, 10).join(', ')}${r.targets.length > 10 ? ', ...' : ''}) in execution ${r.executionId}\n`);
      } finally {
        close();
      }
    });

  common(fleet.command('start'))
    .description('Start an execution of the whole fleet (same as `migrator invoke fleet`).')
    .action((o: FleetCliOptions) => fleetStart(o, io));
}
