/** The seed file format: the repository's seeds are valid, the JSON Schemas are current, errors carry file:line path. */
import { describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSeeds, parseSeedText, staleJsonSchemas, SeedValidationError } from '../../functions/core/seed/index.ts';
import { jsonSchemas, TenantSchema, CatalogSchema } from '../../functions/core/seed/schema.ts';
import type { Entry } from '../../functions/core/seed/load.ts';
import { SEEDS } from './helpers.ts';

describe('seed files', () => {
  it('the repository seeds load for every stage, with seed 000 tenants, agents, tools and models', () => {
    const local = loadSeeds({ dir: SEEDS, stage: 'local' });
    expect(local.tenants.map((t) => t.slug).sort()).toEqual(['demo-acme', 'demo-globex', 'efms', 'etms', 'vela']);
    expect(local.catalog.agents!.map((a) => a.name)).toEqual(['GuidelineAgent', 'DebtAgent', 'ShipmentAgent', 'SupervisorAgent']);
    expect(local.catalog.tools).toHaveLength(5);
    expect(local.catalog.models!.map((m) => m.name)).toEqual(['gemini-2.5-flash', 'gemini-2.0-flash-exp', 'gpt-4o-mini']);
    const prod = loadSeeds({ dir: SEEDS, stage: 'prod' });
    expect(prod.stage.protected).toBe(true);
    expect(prod.tenants.map((t) => t.slug).sort()).toEqual(['efms', 'etms', 'vela']);
    expect(prod.tenants.every((t) => t.llm.every((l: Entry) => l.apiKeySecret?.startsWith('migrator/prod/')))).toBe(true);
    // Seed 000's permission matrix.
    const agents = Object.fromEntries(prod.tenants.map((t) => [t.slug, t.agents.map((a: Entry) => a.name).sort()]));
    expect(agents).toEqual({
      etms: ['GuidelineAgent', 'SupervisorAgent'],
      efms: ['DebtAgent', 'GuidelineAgent', 'ShipmentAgent', 'SupervisorAgent'],
      vela: ['GuidelineAgent', 'SupervisorAgent'],
    });
    const users = prod.tenants.flatMap((t) => t.users);
    expect(users.filter((u) => u.role === 'admin')).toHaveLength(3);
    expect(users.filter((u) => u.role === 'supporter')).toHaveLength(6);
  });

  it('no seed file holds a password or a key', () => {
    const files = ['catalog.yaml', 'stages.yaml', ...readdirSync(join(SEEDS, 'tenants')).map((f) => `tenants/${f}`)];
    for (const f of files) {
      // Comments may talk about passwords; data may not hold one.
      const text = readFileSync(join(SEEDS, f), 'utf8').replace(/^\s*#.*$/gm, '');
      expect(text, f).not.toMatch(/password|apiKey:|sk-[A-Za-z0-9]|AIza[0-9A-Za-z_-]{10}/);
    }
  });

  it('seeds/schema/*.json are generated from the zod definitions and up to date', () => {
    expect(staleJsonSchemas(SEEDS)).toEqual([]);
    const tenant = jsonSchemas()['tenant.schema.json'] as { additionalProperties?: boolean; required?: string[] };
    expect(tenant.additionalProperties).toBe(false);
    expect(tenant.required).toEqual(['slug', 'name']);
  });

  it('errors carry file, line, path and reason; every problem at once', () => {
    const text = ['slug: etms', 'name: eTMS', 'users:', '  - email: admin@etms.local', '    role: boss', '    pasword: x', 'colour: blue'].join('\n');
    const { issues } = parseSeedText('tenants/etms.yaml', text, TenantSchema);
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ file: 'tenants/etms.yaml', path: 'users[0].role', line: 5 }),
        { file: 'tenants/etms.yaml', path: 'users[0].pasword', line: 6, message: 'unknown field "pasword"' },
        { file: 'tenants/etms.yaml', path: 'colour', line: 7, message: 'unknown field "colour"' },
      ]),
    );
    const err = new SeedValidationError(issues);
    expect(err.message).toContain('tenants/etms.yaml:7 colour: unknown field "colour"');
    expect(err.message).toContain('nothing was written');
  });

  it('duplicate YAML keys and an empty file are errors', () => {
    expect(parseSeedText('catalog.yaml', 'models: []\nmodels: []\n', CatalogSchema).issues[0]).toMatchObject({ file: 'catalog.yaml', line: 2 });
    expect(parseSeedText('tenants/x.yaml', '', TenantSchema).issues[0]?.message).toMatch(/expected object/i);
  });

  it('--tenant must name a tenant of the stage', () => {
    expect(() => loadSeeds({ dir: SEEDS, stage: 'prod', tenants: ['demo-acme'] })).toThrow(/tenant "demo-acme" is not part of stage "prod"/);
    expect(() => loadSeeds({ dir: SEEDS, stage: 'local', tenants: ['nope'] })).toThrow(/unknown tenant "nope"/);
  });

  it('many files load in order, and a broken one is reported with its line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'seeds-many-'));
    try {
      cpSync(SEEDS, dir, { recursive: true });
      for (let i = 0; i < 1200; i++) {
        const slug = `t${String(i).padStart(4, '0')}`;
        writeFileSync(join(dir, 'tenants', `${slug}.yaml`), `slug: ${slug}\nname: Tenant ${i}\nagents: [GuidelineAgent]\nusers:\n  - email: admin@${slug}.example.invalid\n    role: admin\n`);
      }
      const set = loadSeeds({ dir, stage: 'local' });
      expect(set.tenants).toHaveLength(1205);
      expect(set.tenants.find((t) => t.slug === 't1199')?.users[0]?.email).toBe('admin@t1199.example.invalid');
      writeFileSync(join(dir, 'tenants', 't1100.yaml'), 'slug: t1100\nname: x\nusers:\n  - email: a@b.example\n    role: admin\n   bad: indentation\n');
      writeFileSync(join(dir, 'tenants', 't0007.yaml'), 'slug: t0007\nname: x\nregion: 12\n');
      let err: SeedValidationError | undefined;
      try {
        loadSeeds({ dir, stage: 'local' });
      } catch (e) {
        err = e as SeedValidationError;
      }
      expect(err).toBeInstanceOf(SeedValidationError);
      expect(err!.issues.map((i) => `${i.file}:${i.line}`)).toEqual(['tenants/t0007.yaml:3', expect.stringMatching(/^tenants\/t1100\.yaml:\d+$/)]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
