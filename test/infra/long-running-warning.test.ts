/**
 * DatabaseMigrations runs every migration in Lambda (15 minutes at most): migrations marked long-running
 * are named in a synth warning that points at the fleet construct's runner; unmarked folders get none.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as rds from 'aws-cdk-lib/aws-rds';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DatabaseMigrations } from '../../infra/database-migrations.ts';
import { markedLongRunning } from '../../infra/database-migrations/long-running.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

function warnings(migrationsDir: string) {
  const stack = new Stack(new App(), 'Long');
  const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 0, subnetConfiguration: [{ name: 'iso', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
  vpc.addInterfaceEndpoint('SecretsManager', { service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER });
  vpc.addInterfaceEndpoint('CloudFormation', { service: ec2.InterfaceVpcEndpointAwsService.CLOUDFORMATION });
  const db = new rds.DatabaseInstance(stack, 'Db', {
    engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17_6 }),
    vpc,
    vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
  });
  new DatabaseMigrations(stack, 'Migrations', { database: db, databaseSecret: db.secret!, vpc, migrationsDir, stage: 'staging' });
  return Annotations.fromStack(stack).findWarning('/Long/Migrations', Match.stringLikeRegexp('long-running'));
}

describe('long-running migrations under DatabaseMigrations', () => {
  it('the SQL marker and the module export are found as the core finds them; the sample folder has none', () => {
    expect(markedLongRunning(join(root, 'test/fleet/fixtures/long-migrations'))).toEqual(['0002_backfill_item_search.sql']);
    expect(markedLongRunning(join(root, 'test/fleet/fixtures/long-module'))).toEqual(['0002_index_items.ts']);
    expect(markedLongRunning(join(root, 'migrations'))).toEqual([]);
  });

  it('a synth warning names the marked files and the runner without the 15-minute limit', () => {
    const found = warnings(join(root, 'test/fleet/fixtures/long-migrations'));
    expect(found).toHaveLength(1);
    const text = JSON.stringify(found[0]!.entry.data);
    expect(text).toContain('0002_backfill_item_search.sql');
    expect(text).toContain('DatabaseFleetMigrations');
    expect(warnings(join(root, 'migrations'))).toHaveLength(0);
  });
});
