/**
 * Runs the stand-in on its own, for poking at it with the AWS CLI or another process:
 *   npx tsx local/aws-standin/main.ts [--port 4566] [--state-file .local/aws-standin.json] [--memory]
 * Prints the environment to export (the secret access key by name only, to keep it out of logs).
 */
import { parseArgs } from 'node:util';
import { DEV_STATE_FILE, startDevStandIn } from './dev.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    'state-file': { type: 'string' },
    memory: { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
  },
});
const port = values.port === undefined ? undefined : Number(values.port);
if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
  console.error(`--port: ${values.port} is not a TCP port`);
  process.exit(2);
}
const stateFile = values.memory ? undefined : (values['state-file'] ?? DEV_STATE_FILE);

const { standIn, dev, env } = await startDevStandIn({
  ...(port !== undefined ? { port } : {}),
  ...(stateFile !== undefined ? { stateFile } : {}),
  ...(values.verbose ? { log: (line: string) => console.log(line) } : {}),
});
console.log(`AWS stand-in (KMS + Secrets Manager) on ${standIn.endpoint}; state: ${stateFile ?? 'memory only'}`);
console.log(`dev key ${dev.aliasName} -> ${dev.keyArn}${dev.keyCreated ? ' (created)' : ''}`);
for (const s of dev.secrets) console.log(`dev secret ${s.name}${s.created ? ' (created)' : ''}`);
for (const [k, v] of Object.entries(env)) {
  console.log(k === 'AWS_SECRET_ACCESS_KEY' ? `export ${k}=<DEV_CREDENTIALS.secretAccessKey in local/aws-standin/server.ts>` : `export ${k}=${v}`);
}
const shutdown = (): void => {
  standIn.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(`AWS stand-in: could not save state: ${(err as Error).message}`);
      process.exit(1);
    },
  );
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
