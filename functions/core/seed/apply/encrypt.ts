/** KMS encryption of a section's provider secrets and secret leaves, into the rows about to be written. */
import type { Section } from '../model.ts';
import { encryptAll, providerContext, renderContext, type EncryptJob } from './provider-secrets.ts';
import { fillLeaf } from './secret-leaves.ts';
import type { Pending, RunContext } from './context.ts';

export async function encryptInto(ctx: RunContext, s: Section, rows: readonly Pending[], tenantIdFor: (p: Pending) => string | undefined): Promise<void> {
  const jobs: { job: EncryptJob; done: (e: { ciphertext: Buffer; keyArn: string; version: string }) => void }[] = [];
  for (const p of rows) {
    const tenantId = tenantIdFor(p)!;
    for (const e of p.encrypt) {
      const ps = e.field.providerSecret!;
      jobs.push({
        job: { ...e.job, context: providerContext(s, e.field, p.item, tenantId) },
        done: (enc) => {
          p.extra[ps.ciphertextColumn] = enc.ciphertext;
          if (ps.keyIdColumn) p.extra[ps.keyIdColumn] = enc.keyArn;
          if (ps.versionColumn) p.extra[ps.versionColumn] = enc.version;
          if (ps.encryptedAtColumn) p.extra[ps.encryptedAtColumn] = ctx.now;
        },
      });
    }
    for (const l of p.leaves) {
      for (const j of l.jobs) {
        jobs.push({
          job: { secret: j.secret, jsonField: j.jsonField, slug: p.item.tenant!.slug, context: renderContext({ tenant: '{tenant.id}', purpose: '{path}' }, { tenantId, slug: p.item.tenant!.slug, row: p.item.entry, path: j.purpose }) },
          done: (enc) => fillLeaf(l.value, j, enc),
        });
      }
    }
  }
  const out = await encryptAll(ctx, jobs.map((j) => j.job));
  out.forEach((enc, i) => jobs[i]!.done(enc));
  if (out.length > 0) ctx.log(`encrypted ${out.length} provider key(s) of ${s.table} with ${ctx.kmsKeyId}`);
}
