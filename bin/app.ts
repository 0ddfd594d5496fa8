/**
 * The sample CDK app's entry point (cdk.json: `npx tsx bin/app.ts`). It simply builds and synthesizes:
 * no "am I the entry point?" check on process.argv[1], which is wrong when started through a symlink.
 * The app itself is infra/sample-app.ts (tests import buildApp from there).
 */
import { buildApp } from '../infra/sample-app.ts';

buildApp().app.synth();
