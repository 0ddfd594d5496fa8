/**
 * Checks of the seed model beyond its shape: every mistake a schema cannot express (a ref to a section
 * that does not exist, a key field that is not a field, a cycle of refs, ...) is an issue naming
 * seed.config.yaml:line and the path, all of them at once, before any data file is read.
 */
import { allSections, defaultContext, type Section, type SeedModel } from './model.ts';
import type { SeedIssue } from './errors.ts';
import { pathText } from './yaml-file.ts';

/** Names a tenant file always allows (never stored). */
export const TENANT_RESERVED = ['kind', '$schema', 'file'];

const SPECIAL = ['providerSecret', 'generated', 'json'] as const;

/** The YAML path of a section of the model, e.g. ['catalog', 'agents', 'children', 'tools']. */
function yamlPath(s: Section): (string | number)[] {
  const out: (string | number)[] = [];
  const chain: Section[] = [];
  for (let x: Section | undefined = s; x; x = x.parent) chain.unshift(x);
  chain.forEach((x, i) => {
    if (i === 0) out.push(...(x.tenant ? ['tenant'] : ['catalog', x.path[0]!]));
    else out.push('children', x.path.at(-1)!);
  });
  return out;
}

export function checkModel(model: SeedModel, lineOf: (path: readonly PropertyKey[]) => number | undefined = () => undefined): SeedIssue[] {
  const issues: SeedIssue[] = [];
  const file = model.file;
  const add = (path: (string | number)[], message: string) => issues.push({ file, path: pathText(path), line: lineOf(path), message });
  const catalog = new Map(model.catalog.map((s) => [s.path[0]!, s]));
  const tables = new Map<string, string>();
  const claimTable = (table: string, path: (string | number)[], where: string) => {
    const other = tables.get(table);
    if (other) add([...path, 'table'], `table "${table}" is already written by ${other}; each table belongs to one section`);
    else tables.set(table, where);
  };

  for (const s of allSections(model)) {
    const at = yamlPath(s);
    claimTable(s.table, at, s.where);
    const names = new Set(s.fields.map((f) => f.name));
    const columns = new Map<string, string>();
    if (s.parentColumn) columns.set(s.parentColumn, 'parentColumn');
    for (const k of s.key) {
      if (!names.has(k)) add([...at, 'key'], `key field "${k}" is not one of the section's fields (${[...names].join(', ') || 'none'})`);
    }
    if (s.shorthand && !names.has(s.shorthand)) add([...at, 'shorthand'], `shorthand "${s.shorthand}" is not one of the section's fields`);
    for (const c of s.children) if (names.has(c.path.at(-1)!)) add([...at, 'children', c.path.at(-1)!], `"${c.path.at(-1)}" is both a field and a child list`);
    if (s.tenant && !s.parent) {
      for (const r of TENANT_RESERVED) if (names.has(r) || s.children.some((c) => c.path.at(-1) === r)) add([...at, 'fields', r], `"${r}" is reserved in a tenant file`);
      // The loader names each tenant by its key as `slug`: a field of that name must be the key.
      if (s.key[0] !== 'slug' && (names.has('slug') || s.children.some((c) => c.path.at(-1) === 'slug'))) add([...at, 'fields', 'slug'], '"slug" is reserved in a tenant file unless it is the tenant\'s key');
      const ik = model.inboundKeys?.field;
      if (ik && (names.has(ik) || s.children.some((c) => c.path.at(-1) === ik))) add([...at, 'inboundKeys', 'field'], `"${ik}" is also a field or child list of the tenant`);
    }
    for (const f of s.fields) {
      const fp = [...at, 'fields', f.name];
      const kinds = SPECIAL.filter((k) => f[k] !== undefined);
      if (kinds.length > 1) add(fp, `a field has at most one special kind; this one has ${kinds.join(' and ')}`);
      if (!f.column && !f.generated) add(fp, 'needs a column (only a generated field has none)');
      if (f.column) {
        const prev = columns.get(f.column);
        if (prev) add([...fp, 'column'], `column "${f.column}" is also written by ${prev}`);
        else columns.set(f.column, `field "${f.name}"`);
      }
      if ((f.providerSecret || f.generated || f.json?.secretLeaves) && !s.tenant) {
        add(fp, `${kinds[0] === 'json' ? 'json.secretLeaves' : kinds[0]} needs a tenant (its key or encryption context is per tenant): move the section under tenant.children`);
      }
      if (s.key.includes(f.name) && kinds.length > 0) add(fp, `key field "${f.name}" cannot be ${kinds[0]}`);
      if (f.ref) {
        const target = catalog.get(f.ref);
        if (!target) add([...fp, 'ref'], `unknown ref "${f.ref}" (catalog sections: ${[...catalog.keys()].join(', ') || 'none'})`);
        else if (target.id === null) add([...fp, 'ref'], `ref "${f.ref}": that section has no id column (id: null), so nothing can reference its rows`);
        else if (target.key.length !== 1) add([...fp, 'ref'], `ref "${f.ref}": that section's natural key has ${target.key.length} fields; a ref needs a one-field key`);
        if (kinds.length > 0) add(fp, `a ref cannot also be ${kinds[0]}`);
      }
      if (f.pattern !== undefined) {
        try {
          new RegExp(f.pattern);
        } catch (e) {
          add([...fp, 'pattern'], `not a valid regular expression: ${(e as Error).message}`);
        }
      }
      if (f.enum && f.default !== undefined && !f.enum.includes(f.default as string)) add([...fp, 'default'], `default ${JSON.stringify(f.default)} is not one of the enum values`);
      if (f.generated) {
        if (f.default !== undefined && typeof f.default !== 'boolean') add([...fp, 'default'], 'a generated field\'s default is true or false');
        for (const c of [f.generated.hashColumn, f.generated.prefixColumn].filter((x): x is string => !!x)) {
          const prev = columns.get(c);
          if (prev) add([...fp, 'generated'], `column "${c}" is also written by ${prev}`);
          else columns.set(c, `field "${f.name}"`);
        }
        checkTemplate(f.generated.secretName, names, [...fp, 'generated', 'secretName'], add);
        if (f.generated.prefix) checkTemplate(f.generated.prefix, names, [...fp, 'generated', 'prefix'], add);
      }
      if (f.providerSecret) {
        const p = f.providerSecret;
        for (const c of [p.ciphertextColumn, p.keyIdColumn, p.versionColumn, p.encryptedAtColumn].filter((x): x is string => !!x)) {
          const prev = columns.get(c);
          if (prev) add([...fp, 'providerSecret'], `column "${c}" is also written by ${prev}`);
          else columns.set(c, `field "${f.name}"`);
        }
        // Context values come from the row's natural key only: a context bound to a value that can change
        // would leave the stored ciphertext undecryptable after the change (nothing re-encrypts it).
        const keyFields = new Set(s.key);
        for (const [k, t] of Object.entries(defaultContext(s, p))) {
          checkTemplate(t, names, [...fp, 'providerSecret', 'context', k], add, true);
          for (const m of t.matchAll(/\{row\.([^}]*)\}/g)) {
            if (names.has(m[1]!) && !keyFields.has(m[1]!)) add([...fp, 'providerSecret', 'context', k], `template {row.${m[1]}}: only the section's key fields (${s.key.join(', ')}) may bind a context; "${m[1]}" can change, and its ciphertext would then no longer decrypt`);
          }
        }
        // The secret's version is how a rotated provider key is noticed: without it the key is never re-encrypted.
        if (!p.versionColumn) add([...fp, 'providerSecret'], 'needs versionColumn (the secret version the ciphertext was made from): without it a rotated provider key would never be re-encrypted');
      }
      if (f.json?.secretLeaves && f.type && f.type !== 'object' && f.type !== 'json') add([...fp, 'type'], 'json.secretLeaves needs an object value');
    }
  }
  if (model.inboundKeys) claimTable(model.inboundKeys.table, ['tenant', 'inboundKeys'], 'tenant.inboundKeys');
  if (model.audit && tables.has(model.audit.table)) add(['audit', 'table'], `the audit table "${model.audit.table}" is also seeded by ${tables.get(model.audit.table)}`);

  // Cycles: catalog sections that reference each other could not be written in any order.
  const refsOf = (s: Section) => s.fields.map((f) => f.ref).filter((r): r is string => !!r && catalog.has(r));
  const state = new Map<string, 'visiting' | 'done'>();
  const reported = new Set<string>();
  const visit = (name: string, stack: string[]) => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...stack.slice(stack.indexOf(name)), name];
      const key = [...cycle].sort().join(',');
      if (!reported.has(key)) {
        reported.add(key);
        add(['catalog', name], `cycle in refs: ${cycle.join(' -> ')} (rows could not be written in any order; make one of them a child section)`);
      }
      return;
    }
    state.set(name, 'visiting');
    for (const r of refsOf(catalog.get(name)!)) visit(r, [...stack, name]);
    state.set(name, 'done');
  };
  for (const name of catalog.keys()) visit(name, []);
  return issues;
}

function checkTemplate(t: string, fields: Set<string>, path: (string | number)[], add: (p: (string | number)[], m: string) => void, context = false): void {
  for (const m of t.matchAll(/\{([^}]*)\}/g)) {
    const v = m[1]!;
    if (v.startsWith('row.')) {
      if (!fields.has(v.slice(4))) add(path, `template {${v}}: "${v.slice(4)}" is not a field of this section`);
    } else if (!(context ? ['tenant.id', 'tenant.slug', 'path'] : ['tenant', 'tenant.slug']).includes(v)) {
      add(path, `unknown template {${v}} (known: ${context ? '{tenant.id}, {tenant.slug}, {row.<field>}, {path}' : '{tenant}, {row.<field>}'})`);
    }
  }
}
