/**
 * Synthesizes the sample app once (bundling with esbuild is the slow part) with the cdk-nag AwsSolutions
 * pack attached, and returns the template plus any nag error instead of throwing, so each test can assert.
 */
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../../infra/sample-app.ts';
import type { MigratorStack } from '../../infra/stacks/migrator-stack.ts';

export interface Synthesized {
  stack: MigratorStack;
  template: Template;
  json: Record<string, any>;
  outdir: string;
  /** The synth error (cdk-nag findings make synth throw), or undefined when clean. */
  nagError?: string;
  /** Removes the cloud assembly. */
  cleanup(): void;
}

export function synthSample(context: Record<string, string> = {}, options: { nag?: boolean } = {}): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), 'migrator-cdk-'));
  // Path metadata lets tests find resources by construct path.
  const app = new App({ outdir, context: { 'aws:cdk:enable-path-metadata': true, ...context } });
  if (options.nag !== false) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const { stack } = buildApp(app);
  let nagError: string | undefined;
  try {
    app.synth();
  } catch (e) {
    nagError = (e as Error).message;
  }
  // The assembly is written before validation runs, so the template is there even when nag objected.
  const template = Template.fromJSON(JSON.parse(readFileSync(join(outdir, stack.templateFile), 'utf8')));
  return { stack, template, json: template.toJSON(), outdir, nagError, cleanup: () => rmSync(outdir, { recursive: true, force: true }) };
}
