/**
 * A generated seeds folder for the seeding benchmark: the repository's catalog, one `bench` stage,
 * and N tenant files of the shape the issue asks for: 3 users, 2 agents and 1 LLM key each, the key
 * in its own Secrets Manager secret (seed 000 gives every tenant its own provider key).
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { ROOT } from '../lib/optional.ts';

export const BENCH_STAGE = 'bench';
export const BENCH_KMS_ALIAS = 'alias/migrator-bench';
export const BENCH_SECRET_PREFIX = 'migrator/bench';

export interface GeneratedSeeds {
  readonly dir: string;
  readonly slugs: string[];
  /** Secrets Manager names the tenants reference: each must exist before seeding. */
  readonly llmSecrets: string[];
  readonly agents: string[];
  readonly models: string[];
}

export function slugFor(i: number, prefix = 'bench'): string {
  return `${prefix}-${String(i).padStart(5, '0')}`;
}

export function llmSecretFor(slug: string): string {
  return `${BENCH_SECRET_PREFIX}/llm/${slug}`;
}

/**
 * @param sharedSecrets when set, tenants share this many provider-key secrets instead of one each
 *   (a platform-wide key per provider): fewer Secrets Manager calls, same number of KMS Encrypts.
 */
export function generateSeeds(root: string, count: number, sharedSecrets?: number, slugPrefix = 'bench'): GeneratedSeeds {
  const dir = join(root, 'seeds');
  mkdirSync(join(dir, 'tenants'), { recursive: true });
  const catalogFile = resolve(ROOT, 'seeds/catalog.yaml');
  copyFileSync(catalogFile, join(dir, 'catalog.yaml'));
  const catalog = parse(readFileSync(catalogFile, 'utf8')) as { agents?: { name: string }[]; models?: { name: string }[] };
  const agents = (catalog.agents ?? []).map((a) => a.name);
  const models = (catalog.models ?? []).map((m) => m.name);
  if (agents.length < 2 || models.length < 1) throw new Error('seeds/catalog.yaml needs at least 2 agents and 1 model for the bench');
  writeFileSync(
    join(dir, 'stages.yaml'),
    stringify({ stages: { [BENCH_STAGE]: { kinds: ['real', 'demo'], kmsKeyId: BENCH_KMS_ALIAS, secretPrefix: BENCH_SECRET_PREFIX } } }),
  );
  const slugs: string[] = [];
  const llmSecrets = new Set<string>();
  for (let i = 1; i <= count; i++) {
    const slug = slugFor(i, slugPrefix);
    const secret = sharedSecrets ? `${BENCH_SECRET_PREFIX}/llm/shared-${i % sharedSecrets}` : llmSecretFor(slug);
    const tenant = {
      slug,
      name: `Bench Tenant ${i}`,
      kind: i % 4 === 0 ? 'demo' : 'real',
      domain: `tenant-${i}.example.invalid`,
      region: i % 2 ? 'eu-west-1' : 'us-east-1',
      settings: { plan: i % 3 ? 'standard' : 'enterprise', locale: 'en' },
      agents: [agents[i % agents.length]!, agents[(i + 1) % agents.length]!],
      users: [
        { email: `admin@${slug}.example.invalid`, displayName: `Admin ${i}`, role: 'admin' },
        { email: `support_1@${slug}.example.invalid`, displayName: `Support ${i}.1`, role: 'supporter' },
        { email: `support_2@${slug}.example.invalid`, displayName: `Support ${i}.2`, role: 'supporter' },
      ],
      llm: [{ purpose: 'default', model: models[i % models.length]!, temperature: 0.2, apiKeySecret: secret }],
    };
    writeFileSync(join(dir, 'tenants', `${slug}.yaml`), stringify(tenant));
    slugs.push(slug);
    llmSecrets.add(secret);
  }
  return { dir, slugs, llmSecrets: [...llmSecrets], agents, models };
}
