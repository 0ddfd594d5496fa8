/**
 * Upgrade path, template side: a stack deployed from the code before the run-history/network changes,
 * updated to this code, replaces no resource. The fixture (test/infra/fixtures/upgrade/) holds the logical
 * id, type and replacement-triggering properties of every resource of the sample stack, generated from
 * main at 584d1e7 by test/infra/upgrade/generate-fixture.ts.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURE, identities, synthSampleTemplate, type ResourceIdentity } from './upgrade/replacement.ts';

/** Resources of the deployed stack that are gone or would be replaced by an update to `now`. */
function replacedOrRemoved(before: Record<string, ResourceIdentity>, now: Record<string, ResourceIdentity>): string[] {
  const out: string[] = [];
  for (const [id, was] of Object.entries(before)) {
    const is = now[id];
    if (!is) out.push(`${id} (${was.type}) removed or renamed`);
    else if (is.type !== was.type) out.push(`${id} changes type ${was.type} -> ${is.type}`);
    else {
      for (const p of new Set([...Object.keys(was.replacing), ...Object.keys(is.replacing)])) {
        if (JSON.stringify(was.replacing[p]) !== JSON.stringify(is.replacing[p])) out.push(`${id} (${was.type}) ${p} changes: replacement`);
      }
    }
  }
  return out;
}

describe.each(['staging', 'prod'] as const)('upgrade of the sample stack (%s)', (stage) => {
  it('keeps every logical id and replaces no resource', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'migrator-upgrade-'));
    try {
      const before = JSON.parse(readFileSync(FIXTURE(stage), 'utf8')) as Record<string, ResourceIdentity>;
      const template = synthSampleTemplate(stage, outdir);
      expect(replacedOrRemoved(before, identities(template))).toEqual([]);
      // The comparison itself notices a replacing change (a changed security group description).
      const sg = Object.keys(template.Resources).find((id) => template.Resources[id].Type === 'AWS::EC2::SecurityGroup')!;
      template.Resources[sg].Properties.GroupDescription += ' (edited)';
      expect(replacedOrRemoved(before, identities(template))).toEqual([`${sg} (AWS::EC2::SecurityGroup) GroupDescription changes: replacement`]);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  }, 120_000);
});
