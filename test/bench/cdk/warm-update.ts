/**
 * A warm no-op Update end to end: the bundled handler (from .bench/cdk.out), imported once in a child
 * process with the function's synthesized environment, receives a Create (migrates and seeds a fresh
 * database), then Update events as a redeploy with unchanged content sends them. The first Update is
 * the warm-up; the following ones are the measurement (their median; the second Update is the first
 * sample). Database credentials, the stage key and the provider-key secrets live in the stand-in, as
 * on AWS, so each Update reads the RDS secret, connects, validates checksums, migrates (nothing) and
 * seeds (nothing) for real.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { BenchServer } from '../lib/server.ts';
import { fmtMs, fmtSeconds, type Report } from '../lib/report.ts';
import { median, run } from '../lib/timing.ts';
import { ROOT, Unavailable, exportedFunction, importModule } from '../lib/optional.ts';
import { createKey, createSecrets, standInEnv, startStandIn, type StandIn } from '../lib/standin.ts';
import type { MigratorAsset } from './asset.ts';

const STACK_ID = 'arn:aws:cloudformation:us-east-1:000000000000:stack/PgTenantMigrator-bench/00000000-0000-0000-0000-000000000000';

interface ChildOutput {
  importMs: number;
  error?: string;
  results?: { ms: number; ok: boolean; response?: unknown; error?: string }[];
}

/** Properties of the Custom::DatabaseMigrations resource as synthesized, tokens made plain strings. */
function resourceProperties(outDir: string): { logicalId: string; props: Record<string, string> } {
  for (const f of readdirSync(outDir).filter((x) => x.endsWith('.template.json'))) {
    const t = JSON.parse(readFileSync(join(outDir, f), 'utf8')) as { Resources?: Record<string, { Type: string; Properties?: Record<string, unknown> }> };
    for (const [logicalId, r] of Object.entries(t.Resources ?? {})) {
      if (r.Type !== 'Custom::DatabaseMigrations') continue;
      const props: Record<string, string> = {};
      for (const [k, v] of Object.entries(r.Properties ?? {})) props[k] = typeof v === 'string' ? v : `bench-placeholder-${k}`;
      return { logicalId, props };
    }
  }
  throw new Unavailable('no Custom::DatabaseMigrations resource in the synthesized template');
}

/** The provider-key secret names the asset's seeds reference for `stage`, via the project's own loader. */
async function providerSecrets(seedsDir: string, stage: string): Promise<string[]> {
  const file = resolve(ROOT, 'functions/core/seed/index.ts');
  const load = exportedFunction<(o: { dir: string; stage: string }) => { tenants: { llm: { apiKeySecret?: string }[] }[] }>(
    await importModule(file),
    'loadSeeds',
    file,
  );
  const names = new Set<string>();
  for (const t of load({ dir: seedsDir, stage }).tenants) for (const l of t.llm) if (l.apiKeySecret) names.add(l.apiKeySecret);
  return [...names];
}

function event(type: 'Create' | 'Update', logicalId: string, props: Record<string, string>, old?: Record<string, string>, physicalId?: string) {
  return {
    RequestType: type,
    ServiceToken: 'arn:aws:lambda:us-east-1:000000000000:function:bench-provider',
    ResponseURL: 'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/bench',
    StackId: STACK_ID,
    RequestId: randomUUID(),
    LogicalResourceId: logicalId,
    ResourceType: 'Custom::DatabaseMigrations',
    ...(physicalId ? { PhysicalResourceId: physicalId } : {}),
    ResourceProperties: { ServiceToken: 'arn:aws:lambda:us-east-1:000000000000:function:bench-provider', ...props },
    ...(old ? { OldResourceProperties: { ServiceToken: 'arn:aws:lambda:us-east-1:000000000000:function:bench-provider', ...old } } : {}),
  };
}

export async function benchWarmUpdate(server: BenchServer, report: Report, asset: MigratorAsset, section: string, runs: number): Promise<void> {
  const { logicalId, props } = resourceProperties(asset.outDir);
  const stage = String(asset.environment.STAGE ?? props.Stage ?? 'staging');
  const work = mkdtempSync(join(tmpdir(), 'migrator-bench-handler-'));
  let standIn: StandIn | undefined;
  const db = await server.createDatabase('handler');
  try {
    standIn = await startStandIn();
    const keyArn = await createKey(standIn, `alias/migrator-${stage}`);
    const u = new URL(db.url);
    const dbSecret = `bench/${stage}/database`;
    const rds = {
      engine: 'postgres',
      host: u.hostname,
      port: Number(u.port || 5432),
      username: decodeURIComponent(u.username),
      // A server with trust authentication ignores it; the RDS shape requires one.
      password: decodeURIComponent(u.password) || 'trust-auth-unused',
      dbname: decodeURIComponent(u.pathname.slice(1)),
    };
    await createSecrets(standIn, [dbSecret], () => JSON.stringify(rds));
    const provider = await providerSecrets(resolve(asset.dir, 'seeds'), stage);
    await createSecrets(standIn, provider, (name) => JSON.stringify({ apiKey: `bench-not-a-real-key-${name.split('/').pop()}` }));

    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, AWS_LAMBDA_FUNCTION_NAME: 'bench-migrator', AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512' };
    for (const [k, v] of Object.entries(asset.environment)) env[k] = typeof v === 'string' ? v : `bench-placeholder-${k.toLowerCase()}`;
    Object.assign(env, standInEnv(standIn), {
      DB_SECRET_ARN: dbSecret,
      // The local PostgreSQL has no TLS; on AWS the function verifies the RDS certificate.
      DB_TLS: 'off',
      KMS_KEY_ARN: keyArn,
    });
    delete env.NODE_EXTRA_CA_CERTS;

    // A redeploy with unchanged migrations and seeds: only the deploy nonce differs.
    const stamp = (i: number) => ({ ...props, ...(props.DeployNonce ? { DeployNonce: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString() } : {}) });
    const physicalId = `bench-${logicalId}`;
    const events = [event('Create', logicalId, stamp(0))];
    for (let i = 1; i <= runs + 1; i++) events.push(event('Update', logicalId, stamp(i), stamp(i - 1), physicalId));
    const input = join(work, 'input.json');
    writeFileSync(input, JSON.stringify({ entry: asset.entry, exportName: asset.handlerExport, events, timeoutSeconds: 900 }));
    const child = resolve(ROOT, 'test/bench/cdk/handler-child.ts');
    const r = await run(process.execPath, ['--import', 'tsx', child, input], { cwd: ROOT, env, timeoutMs: 300_000 });
    const line = r.stdout.split('\n').filter((l) => l.startsWith('BENCH_RESULT ')).pop();
    if (!line) throw new Error(`handler run exited ${r.code} without a result: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | ').slice(0, 300)}`);
    const out = JSON.parse(line.slice('BENCH_RESULT '.length)) as ChildOutput;
    if (out.error) throw new Unavailable(out.error);
    const results = out.results ?? [];
    const failed = results.find((x) => !x.ok);
    if (failed) throw new Error(`handler failed on event ${results.indexOf(failed) + 1} (${events[results.indexOf(failed)]!.RequestType}): ${failed.error}`);
    const warm = results.slice(2).map((x) => x.ms);
    const m = median(warm);
    const data = (results[results.length - 1]?.response as { Data?: unknown } | undefined)?.Data;
    report.add({
      section,
      name: 'warm no-op Update, end to end (bundled handler)',
      value: fmtMs(m),
      raw: m / 1000,
      verdict: 'info',
      detail: `median of ${warm.length} Updates after a warm-up Update: ${warm.map((x) => Math.round(x)).join(' / ')} ms; Create ${fmtSeconds(results[0]!.ms)}, first Update ${fmtMs(results[1]!.ms)}; import ${fmtMs(out.importMs)}; Data ${JSON.stringify(data ?? null).slice(0, 160)}`,
    });
  } finally {
    await db.drop().catch(() => {});
    await standIn?.stop().catch(() => {});
    rmSync(work, { recursive: true, force: true });
  }
}
