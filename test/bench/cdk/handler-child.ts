/**
 * Drives the bundled migrator handler as Lambda would, in its own process (its JSON logs go to this
 * process's stdout, which the bench parent collects and drops): imports the bundle once, then
 * invokes it with each event in order. The last stdout line is the result, prefixed `BENCH_RESULT `.
 *
 * usage: node handler-child.ts <input.json>   with {entry, exportName, events: object[]}
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { randomUUID } from 'node:crypto';

interface Input {
  entry: string;
  exportName: string;
  events: Record<string, unknown>[];
  /** Lambda timeout in seconds, for getRemainingTimeInMillis. */
  timeoutSeconds: number;
}

type Handler = (event: unknown, context: unknown) => Promise<unknown>;

const input = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Input;
const t0 = performance.now();
const mod = (await import(pathToFileURL(input.entry).href)) as Record<string, unknown>;
const handler = mod[input.exportName] as Handler | undefined;
const importMs = performance.now() - t0;
const results: { ms: number; ok: boolean; response?: unknown; error?: string }[] = [];
if (typeof handler !== 'function') {
  console.log(`BENCH_RESULT ${JSON.stringify({ importMs, error: `no export ${input.exportName}` })}`);
  process.exit(1);
}
for (const event of input.events) {
  const started = Date.now();
  const context = {
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'bench-migrator',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:bench-migrator',
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: '/aws/lambda/bench-migrator',
    logStreamName: '2026/01/01/[$LATEST]bench',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, input.timeoutSeconds * 1000 - (Date.now() - started)),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
  const s = performance.now();
  try {
    const response = await handler(event, context);
    results.push({ ms: performance.now() - s, ok: true, response });
  } catch (e) {
    results.push({ ms: performance.now() - s, ok: false, error: e instanceof Error ? e.message.slice(0, 500) : String(e) });
    break;
  }
}
console.log(`BENCH_RESULT ${JSON.stringify({ importMs, results })}`);
// Lambda freezes the sandbox; here, leave even if the bundle keeps handles (pools, timers) open.
process.exit(0);
