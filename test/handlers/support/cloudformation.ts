/**
 * A local CloudFormation endpoint for DescribeStacks, speaking the awsQuery protocol the SDK uses
 * (POST / with a form body `Action=DescribeStacks&StackName=...`, XML answer), so the handler's real
 * @aws-sdk/client-cloudformation call goes over HTTP. Reached with AWS_ENDPOINT_URL_CLOUDFORMATION.
 * Each stack's status is set by the test; an unknown stack is a 400 ValidationError, as CloudFormation answers.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LocalCloudFormation {
  endpoint: string;
  /** Status DescribeStacks reports for a stack id (or name). */
  setStatus(stackId: string, status: string): void;
  /** StackName of every DescribeStacks call, in order. */
  calls: string[];
  stop(): Promise<void>;
}

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export async function startLocalCloudFormation(): Promise<LocalCloudFormation> {
  const statuses = new Map<string, string>();
  const calls: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const action = form.get('Action');
      const name = form.get('StackName') ?? '';
      if (req.method !== 'POST' || action !== 'DescribeStacks') {
        res.writeHead(400, { 'content-type': 'text/xml' });
        res.end(`<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>${xml(String(action))} is not served here</Message></Error><RequestId>local</RequestId></ErrorResponse>`);
        return;
      }
      calls.push(name);
      const status = statuses.get(name);
      if (!status) {
        res.writeHead(400, { 'content-type': 'text/xml' });
        res.end(`<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id ${xml(name)} does not exist</Message></Error><RequestId>local</RequestId></ErrorResponse>`);
        return;
      }
      const stackName = /:stack\/([^/]+)\//.exec(name)?.[1] ?? name;
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(
        `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member>` +
          `<StackId>${xml(name)}</StackId><StackName>${xml(stackName)}</StackName><CreationTime>2026-11-21T10:00:00.000Z</CreationTime>` +
          `<StackStatus>${xml(status)}</StackStatus></member></Stacks></DescribeStacksResult>` +
          `<ResponseMetadata><RequestId>local-request</RequestId></ResponseMetadata></DescribeStacksResponse>`,
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    setStatus: (id, status) => void statuses.set(id, status),
    calls,
    stop: () => new Promise((r) => server.close(() => r())),
  };
}
