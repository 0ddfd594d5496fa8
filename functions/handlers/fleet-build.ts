/**
 * The long-running runner's command line, staged in the fleet asset as `build.mjs` and run by the fleet's
 * CodeBuild project (`node build.mjs up`) for one target whose pending migrations are marked long-running.
 * The same per-target core as the Lambda worker (fleet-target.ts: the target's secret, `runJob` with the
 * migration lock and its wait deadline, statement and lock timeouts, the target's own run row, the ledger
 * entry), inside the build's budget instead of an invocation's. Exit 0: migrated; 1: failed (the build
 * fails, so the state machine's Map item fails and counts toward the tolerance); 2: usage error.
 */
import { randomUUID } from 'node:crypto';
import { buildEnv } from './fleet-env.ts';
import { fleetLogger } from './fleet-log.ts';
import { runTarget } from './fleet-target.ts';

export async function main(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const started = Date.now();
  if (argv.length !== 1 || argv[0] !== 'up') {
    process.stderr.write(`usage: node build.mjs up (got: ${argv.join(' ') || 'nothing'}); the target comes from TARGET_NAME, TARGET_SECRET_ID, EXECUTION_ID, WAVE\n`);
    return 2;
  }
  let e: ReturnType<typeof buildEnv>;
  try {
    e = buildEnv(env);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }
  const runId = randomUUID();
  const event = { target: { name: e.TARGET_NAME, secretId: e.TARGET_SECRET_ID }, executionId: e.EXECUTION_ID, wave: e.WAVE, trigger: e.TRIGGER };
  const logger = fleetLogger({ stage: e.STAGE, trigger: e.TRIGGER, executionArn: e.EXECUTION_ID, target: e.TARGET_NAME, wave: e.WAVE, runId, runner: 'codebuild', buildId: e.CODEBUILD_BUILD_ID });
  try {
    const r = await runTarget({ event, env: e, runner: 'codebuild', remainingMs: e.BUILD_BUDGET_MS - (Date.now() - started), logger, runId, buildId: e.CODEBUILD_BUILD_ID });
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return 0;
  } catch (error) {
    // runTarget logged it and wrote the ledger entry; this line is what the build log ends with.
    process.stderr.write(`${(error as Error).message}\n`);
    return 1;
  }
}

process.exitCode = await main();
