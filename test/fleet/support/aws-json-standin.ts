/**
 * TEST stand-in (not product code) for the two AWS JSON-1.0 APIs the fleet's CLI and deploy handler call:
 * DynamoDB PutItem/Query (the ledger: key condition `#e = :e` on the partition key, pages of `pageSize`) and
 * Step Functions StartExecution/DescribeExecution (executions are recorded; their status is set by the test),
 * and Secrets Manager ListSecrets with the name, tag-key and tag-value filters (JSON 1.1; `secrets` set by the test),
 * and S3 PutObject (REST, path-style: PUT /bucket/key; `objects` keyed "bucket/key").
 * Real SDK clients reach it over HTTP through AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_SFN.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Execution {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  input: unknown;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  output?: string;
  error?: string;
  cause?: string;
}

export interface AwsJsonStandIn {
  endpoint: string;
  env: Record<string, string>;
  tables: Map<string, Map<string, Record<string, any>>>;
  executions: Execution[];
  /** ListSecrets' secrets: name, ARN, tags. */
  secrets: Array<{ Name: string; ARN: string; Tags?: Array<{ Key: string; Value: string }> }>;
  calls: string[];
  /** S3 objects by "bucket/key". */
  objects: Map<string, { body: string; contentType?: string }>;
  stop(): Promise<void>;
}

export async function startAwsJsonStandIn(options: { pageSize?: number } = {}): Promise<AwsJsonStandIn> {
  const pageSize = options.pageSize ?? 2;
  const tables = new Map<string, Map<string, Record<string, any>>>();
  const executions: Execution[] = [];
  const calls: string[] = [];
  const secrets: AwsJsonStandIn['secrets'] = [];
  const objects: AwsJsonStandIn['objects'] = new Map();
  const fail = (type: string, message: string) => ({ status: 400, body: { __type: `com.amazonaws#${type}`, message } });

  const ops: Record<string, (b: any) => { status: number; body: unknown }> = {
    'DynamoDB_20120810.PutItem': (b) => {
      const t = tables.get(b.TableName) ?? new Map();
      tables.set(b.TableName, t);
      t.set(`${b.Item.executionId.S}\u0000${b.Item.target.S}`, b.Item);
      return { status: 200, body: {} };
    },
    'DynamoDB_20120810.Query': (b) => {
      const t = tables.get(b.TableName);
      if (!t) return fail('ResourceNotFoundException', `Requested resource not found: Table: ${b.TableName} not found`);
      if (b.KeyConditionExpression !== '#e = :e') return fail('ValidationException', 'stand-in supports #e = :e only');
      const key = b.ExpressionAttributeNames['#e'];
      const want = b.ExpressionAttributeValues[':e'].S;
      const all = [...t.values()].filter((i) => i[key].S === want).sort((x, y) => (x.target.S < y.target.S ? -1 : 1));
      const start = b.ExclusiveStartKey ? all.findIndex((i) => i.target.S === b.ExclusiveStartKey.target.S) + 1 : 0;
      const page = all.slice(start, start + pageSize);
      const more = start + pageSize < all.length;
      return { status: 200, body: { Items: page, Count: page.length, ...(more ? { LastEvaluatedKey: { executionId: page.at(-1)!.executionId, target: page.at(-1)!.target } } : {}) } };
    },
    'secretsmanager.ListSecrets': (b) => {
      const filters: Array<{ Key: string; Values: string[] }> = b.Filters ?? [];
      // As documented: each filter matches a prefix of the field; values of one filter are ORed, filters ANDed.
      const match = (s: AwsJsonStandIn['secrets'][number]) =>
        filters.every((f) =>
          f.Values.some((v) =>
            f.Key === 'name' ? s.Name.startsWith(v) : f.Key === 'tag-key' ? (s.Tags ?? []).some((t) => t.Key.startsWith(v)) : f.Key === 'tag-value' ? (s.Tags ?? []).some((t) => t.Value.startsWith(v)) : false,
          ),
        );
      const all = secrets.filter(match).sort((x, y) => (x.Name < y.Name ? -1 : 1));
      const start = b.NextToken ? Number(b.NextToken) : 0;
      const page = all.slice(start, start + pageSize);
      return { status: 200, body: { SecretList: page, ...(start + pageSize < all.length ? { NextToken: String(start + pageSize) } : {}) } };
    },
    'AWSStepFunctions.StartExecution': (b) => {
      const name = b.name ?? `exec-${executions.length + 1}`;
      const executionArn = `${String(b.stateMachineArn).replace(':stateMachine:', ':execution:')}:${name}`;
      executions.push({ executionArn, stateMachineArn: b.stateMachineArn, name, input: JSON.parse(b.input ?? '{}'), status: 'RUNNING' });
      return { status: 200, body: { executionArn, startDate: Date.now() / 1000 } };
    },
    'AWSStepFunctions.DescribeExecution': (b) => {
      const e = executions.find((x) => x.executionArn === b.executionArn);
      if (!e) return fail('ExecutionDoesNotExist', `Execution Does Not Exist: '${b.executionArn}'`);
      return { status: 200, body: { executionArn: e.executionArn, stateMachineArn: e.stateMachineArn, name: e.name, status: e.status, startDate: Date.now() / 1000, input: JSON.stringify(e.input), output: e.output, error: e.error, cause: e.cause } };
    },
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'PUT' && !req.headers['x-amz-target']) {
        // S3 PutObject, path-style (the test's client sets forcePathStyle).
        const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.slice(1));
        calls.push(`S3.PutObject ${path}`);
        objects.set(path, { body: Buffer.concat(chunks).toString('utf8'), contentType: req.headers['content-type'] });
        res.writeHead(200, { etag: '"0"' });
        return res.end();
      }
      const target = String(req.headers['x-amz-target'] ?? '');
      calls.push(target);
      const op = ops[target];
      const r = op ? op(JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}')) : fail('UnknownOperationException', target);
      res.writeHead(r.status, { 'content-type': target.startsWith('secretsmanager.') ? 'application/x-amz-json-1.1' : 'application/x-amz-json-1.0' });
      res.end(JSON.stringify(r.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint,
    env: {
      AWS_ENDPOINT_URL_DYNAMODB: endpoint,
      AWS_ENDPOINT_URL_SFN: endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIDLOCALFLEETTEST',
      AWS_SECRET_ACCESS_KEY: 'local-fleet-test-secret',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    tables,
    executions,
    secrets,
    calls,
    objects,
    stop: () => new Promise((r) => server.close(() => r())),
  };
}
