/**
 * A local stand-in for the Lambda Invoke API (REST: POST /2015-03-31/functions/{name}/invocations), so
 * `migrator invoke` runs its real @aws-sdk/client-lambda call over HTTP into a handler in this process,
 * with the environment that function would have. Errors come back as Lambda returns them: 200 with
 * X-Amz-Function-Error and {errorMessage, errorType, trace}; an unknown function is a 404
 * ResourceNotFoundException.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { lambdaContext } from './lambda.ts';

export interface LocalFunction {
  handler: (event: unknown, context: any) => Promise<unknown>;
  /** Environment set around each invocation (functions share this process). */
  env: Record<string, string>;
}

export interface LocalLambda {
  endpoint: string;
  invocations: Array<{ name: string; payload: unknown }>;
  stop(): Promise<void>;
}

export async function startLocalLambda(functions: Record<string, LocalFunction>): Promise<LocalLambda> {
  const invocations: LocalLambda['invocations'] = [];
  let queue = Promise.resolve();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const m = /^\/2015-03-31\/functions\/([^/]+)\/invocations/.exec(req.url ?? '');
      const name = m ? decodeURIComponent(m[1]!) : '';
      const fn = functions[name];
      if (req.method !== 'POST' || !fn) {
        res.writeHead(404, { 'content-type': 'application/json', 'x-amzn-errortype': 'ResourceNotFoundException' });
        res.end(JSON.stringify({ Type: 'User', message: `Function not found: ${name}` }));
        return;
      }
      const payload = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
      invocations.push({ name, payload });
      // One invocation at a time: the environment is process-wide.
      queue = queue.then(async () => {
        const saved = { ...process.env };
        Object.assign(process.env, fn.env);
        try {
          const result = await fn.handler(payload, lambdaContext({ functionName: name }));
          res.writeHead(200, { 'content-type': 'application/json', 'x-amz-executed-version': '$LATEST' });
          res.end(JSON.stringify(result ?? null));
        } catch (e) {
          const err = e as Error;
          res.writeHead(200, { 'content-type': 'application/json', 'x-amz-function-error': 'Unhandled' });
          res.end(JSON.stringify({ errorType: err.name, errorMessage: err.message, trace: String(err.stack ?? '').split('\n') }));
        } finally {
          process.env = saved;
        }
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    invocations,
    stop: () => new Promise((r) => server.close(() => r())),
  };
}
