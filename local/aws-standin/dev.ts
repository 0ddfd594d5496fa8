/**
 * One call for `npm start` and for a standalone stand-in: start with a state file under `.local/`,
 * create the dev key and fake secrets if missing, and return the environment for SDK clients.
 */
import { bootstrapDev, type BootstrapDevOptions, type DevBootstrap } from './bootstrap.ts';
import { clientEnv, startAwsStandIn, type AwsStandIn, type AwsStandInOptions } from './server.ts';

/** Where `npm start` keeps the stand-in's keys and secrets (git-ignored, like the embedded cluster). */
export const DEV_STATE_FILE = '.local/aws/state.json';

export interface DevStandIn {
  standIn: AwsStandIn;
  dev: DevBootstrap;
  /** {@link clientEnv} of the running stand-in: assign to process.env or pass to a child process. */
  env: Record<string, string>;
}

export async function startDevStandIn(options: AwsStandInOptions & BootstrapDevOptions = {}): Promise<DevStandIn> {
  const { aliasName, secrets, secretsUseDevKey, ...serverOptions } = options;
  const standIn = await startAwsStandIn({ stateFile: DEV_STATE_FILE, ...serverOptions });
  try {
    const dev = await bootstrapDev(standIn, {
      ...(aliasName !== undefined ? { aliasName } : {}),
      ...(secrets !== undefined ? { secrets } : {}),
      ...(secretsUseDevKey !== undefined ? { secretsUseDevKey } : {}),
    });
    return { standIn, dev, env: clientEnv(standIn) };
  } catch (err) {
    await standIn.stop();
    throw err;
  }
}
