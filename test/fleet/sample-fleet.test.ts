/**
 * The sample app's fleet stage (tenant databases next to the shared one), synthesized with cdk-nag for both
 * stages: clean, wired to the shared instance, its alarms on the stage's topic, its widgets on the dashboard.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Match } from 'aws-cdk-lib/assertions';
import { synthSample, type Synthesized } from '../infra/synth.ts';

const synths: Record<string, Synthesized> = {};
beforeAll(() => {
  synths.staging = synthSample({ stage: 'staging' });
  synths.prod = synthSample({ stage: 'prod' });
}, 600_000);
afterAll(() => Object.values(synths).forEach((s) => s.cleanup()));

describe.each(['staging', 'prod'])('sample app fleet stage (%s)', (stage) => {
  const get = () => synths[stage]!;
  const ids = (type: string) => Object.entries(get().json.Resources as Record<string, any>).filter(([, r]) => r.Type === type);

  it('synthesizes clean under cdk-nag AwsSolutions', () => {
    expect(get().nagError).toBeUndefined();
  });

  it('has the fleet state machine, its ledger, the deploy resource waiting for it, and outputs for the CLI', () => {
    const t = get().template;
    t.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineName: `pg-tenant-migrator-${stage}-fleet` });
    t.resourceCountIs('Custom::DatabaseFleetMigrations', 1);
    t.hasResourceProperties('Custom::DatabaseFleetMigrations', { Stage: stage, Wait: 'true' });
    t.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: stage === 'prod' ? 'Retain' : 'Delete' });
    const outputs = Object.keys(get().json.Outputs);
    expect(outputs.some((k) => k.includes('FleetStateMachineArn'))).toBe(true);
    expect(outputs.some((k) => k.includes('FleetLedgerTableName'))).toBe(true);
  });

  it('reads tenant secrets under the stage prefix and reaches DynamoDB from isolated subnets', () => {
    const t = get().template;
    t.hasResourceProperties('AWS::Lambda::Function', { Handler: 'index.fleetListTargets', Environment: { Variables: Match.objectLike({ TARGET_SECRET_PREFIX: `migrator/${stage}/fleet/` }) } });
    t.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway', ServiceName: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith(['.dynamodb'])]) }) });
    // The worker may reach the shared instance on its port.
    const worker = ids('AWS::Lambda::Function').find(([, r]) => r.Properties.Handler === 'index.fleetWorker')!;
    const sgRef = worker[1].Properties.VpcConfig.SecurityGroupIds[0];
    t.hasResourceProperties('AWS::EC2::SecurityGroupIngress', { FromPort: Match.anyValue(), SourceSecurityGroupId: sgRef });
  });

  it('tolerance: staging 10 %, prod none after the canary', () => {
    const sm = ids('AWS::StepFunctions::StateMachine').find(([id]) => id.startsWith('TenantFleet'))!;
    const text = JSON.stringify(sm[1].Properties.DefinitionString);
    if (stage === 'prod') expect(text).not.toContain('ToleratedFailurePercentage');
    else expect(text).toContain('\\"ToleratedFailurePercentage\\":10');
  });

  it('alarms on failed targets and failed executions through the stage topic; widgets on the dashboard', () => {
    const t = get().template;
    const topic = ids('AWS::SNS::Topic')[0]![0];
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'FleetTargetsFailed', AlarmActions: [{ Ref: topic }] });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { Metrics: Match.arrayWith([Match.objectLike({ Expression: 'failed + timedOut + aborted' })]), AlarmActions: [{ Ref: topic }] });
    t.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const body = JSON.stringify(ids('AWS::CloudWatch::Dashboard')[0]![1].Properties.DashboardBody);
    expect(body).toContain('Fleet targets per execution');
    expect(body).toContain('Failed fleet targets');
    const names = ids('AWS::Logs::QueryDefinition').map(([, q]) => String(q.Properties.Name));
    expect(names.filter((n) => n.includes('-TenantFleet/')).map((n) => n.split('/').pop()).sort()).toEqual(['execution-summaries', 'failed-targets', 'slowest-targets']);
  });
});
