/**
 * Reading one seed YAML file strictly: the strict input reader (regular file inside the folder, size,
 * UTF-8) -> strict YAML (duplicate keys, unknown tags, several documents are errors) -> the
 * secrets-where-names-belong check -> zod (strict). Every issue carries file, line and path. Shared by
 * the model (seed.config.yaml) and the data files (catalog.yaml, stages.yaml, tenants/*.yaml).
 */
import { LineCounter, parseDocument, isMap, isNode, isScalar, type Document } from 'yaml';
import type * as z from 'zod';
import type { SeedIssue } from './errors.ts';
import { InputFileError, readInputFile } from '../input-file.ts';
import { secretLikeKind, type FieldKind } from '../secret-like.ts';

/**
 * Size limit of one seed file. A real tenant file is a few kB; this leaves room for large catalogs
 * while a runaway file (a `settings` blob, a link to a device) is refused before it is parsed.
 */
export const MAX_SEED_FILE_BYTES = 1024 * 1024;

export interface Parsed<T> {
  value?: T;
  issues: SeedIssue[];
  /** Line of a path in the file (for checks after zod). */
  lineOf?: (path: readonly PropertyKey[]) => number | undefined;
}

export function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}

export function lineOf(doc: Document, lc: LineCounter, path: readonly PropertyKey[]): number | undefined {
  // A field's own line is its key's (for a mapping value, the value starts on the next line).
  const last = path.at(-1);
  if (typeof last === 'string') {
    const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1) as unknown[], true);
    if (isMap(parent)) {
      const pair = parent.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === last);
      if (pair && isNode(pair.key) && pair.key.range) return lc.linePos(pair.key.range[0]).line;
    }
  }
  // The deepest node on the path that exists (a missing field has no node; its parent has).
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n) as unknown[], true);
    if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
  }
  return undefined;
}

/** Which fields hold a NAME (of a secret or key) and which a URL: values that look like secrets there are refused. */
export interface FieldKinds {
  names: ReadonlySet<string>;
  urls: ReadonlySet<string>;
}

/** The field kinds of this repository's files (stages.yaml and any file without a model). */
export const DEFAULT_FIELD_KINDS: FieldKinds = { names: new Set(['apiKeySecret', 'kmsKeyId', 'secretPrefix', 'secret']), urls: new Set(['endpoint']) };

/**
 * Every string (and key) of a parsed file that looks like a secret where none belongs. The issue says
 * what the value looks like, never the value; the values go to `found` so no other message quotes them.
 */
export function secretIssues(file: string, value: unknown, doc: Document, lc: LineCounter, found: Set<string>, kinds: FieldKinds = DEFAULT_FIELD_KINDS): SeedIssue[] {
  const issues: SeedIssue[] = [];
  const walk = (v: unknown, path: PropertyKey[]) => {
    if (typeof v === 'string') {
      const last = path.at(-1);
      const field: FieldKind = typeof last === 'string' && kinds.names.has(last) ? 'name' : typeof last === 'string' && kinds.urls.has(last) ? 'url' : 'text';
      const kind = secretLikeKind(v, field);
      if (!kind) return;
      found.add(v);
      const advice =
        field === 'name'
          ? `${String(last)} must be a NAME (of a Secrets Manager secret or KMS key), never the secret itself; store the value in Secrets Manager and write its name here`
          : field === 'url'
            ? `${String(last)} must not carry credentials; keep them in Secrets Manager`
            : 'seed files never hold secrets; keep it in Secrets Manager';
      issues.push({ file, path: pathText(path), line: lineOf(doc, lc, path), message: `the value looks like ${kind}: ${advice} (the value is not shown)` });
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, [...path, i]));
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        const kind = secretLikeKind(k, 'text');
        if (kind) {
          found.add(k);
          issues.push({ file, path: pathText(path), line: lineOf(doc, lc, path), message: `a key looks like ${kind}: seed files never hold secrets (the value is not shown)` });
        } else walk(x, [...path, k]);
      }
    }
  };
  walk(value, []);
  return issues;
}

/** Keys are unique by their JS form too (`1:` and `"1":` would silently overwrite each other). */
const sameKey = (a: unknown, b: unknown) => a === b || (isScalar(a) && isScalar(b) && String(a.value) === String(b.value));

/**
 * Parses one YAML text strictly and validates it with a zod schema. Syntax errors, duplicate keys,
 * several documents, unknown tags (`!!js/function`) and aliases that do not resolve are issues with
 * their line; yaml's warnings count as errors (the recovered value is never used). Exported for tests.
 */
export function parseSeedText<S extends z.ZodType>(
  file: string,
  text: string,
  schema: S,
  found: Set<string> = new Set(),
  kinds: FieldKinds = DEFAULT_FIELD_KINDS,
): Parsed<z.output<S>> {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: sameKey });
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) {
    return {
      issues: problems.map((e) => ({
        file,
        path: '',
        line: e.linePos?.[0]?.line ?? (e.pos?.[0] !== undefined ? lc.linePos(e.pos[0]).line : undefined),
        message: `${e.code === 'TAG_RESOLVE_FAILED' ? 'unsupported YAML tag' : 'malformed YAML'}: ${e.message.split('\n')[0]}`,
      })),
    };
  }
  let value: unknown;
  try {
    value = doc.toJS() ?? undefined;
  } catch (e) {
    // An alias to a missing anchor, or too many aliases (a "billion laughs" bomb).
    return { issues: [{ file, path: '', message: `malformed YAML: ${(e as Error).message.split('\n')[0]}` }] };
  }
  const secrets = secretIssues(file, value, doc, lc, found, kinds);
  // A file holding a secret is not validated further: no other message may quote one of its values.
  if (secrets.length > 0) return { issues: secrets };
  const at = (p: readonly PropertyKey[]) => lineOf(doc, lc, p);
  const result = schema.safeParse(value);
  if (result.success) return { value: result.data, issues: [], lineOf: at };
  const issues: SeedIssue[] = [];
  for (const issue of flattenUnions(result.error.issues)) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const p = [...issue.path, key];
        issues.push({ file, path: pathText(p), line: at(p), message: `unknown field "${key}"` });
      }
    } else {
      // A refused enum value is named (secret-like values never get here: the file was refused before).
      const got = issue.code === 'invalid_value' ? valueAt(value, issue.path) : undefined;
      const shown = (typeof got === 'string' && got.length <= 100) || typeof got === 'number' ? ` (got ${JSON.stringify(got)})` : '';
      issues.push({ file, path: pathText(issue.path), line: at(issue.path), message: `${issue.message}${shown}` });
    }
  }
  return { issues, lineOf: at };
}

const valueAt = (v: unknown, path: readonly PropertyKey[]) =>
  path.reduce<unknown>((x, k) => (x && typeof x === 'object' ? (x as Record<PropertyKey, unknown>)[k] : undefined), v);

/**
 * A value that fits no branch of a union (a field given as a shorthand string or an object) is
 * reported by the branch it came closest to: the one whose issues reach deepest into the value, so
 * `providerSecret.ciphertextColumn: expected string` instead of "Invalid input".
 */
function flattenUnions(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  const out: z.core.$ZodIssue[] = [];
  for (const i of issues) {
    if (i.code !== 'invalid_union' || !('errors' in i) || i.errors.length === 0) {
      out.push(i);
      continue;
    }
    const depth = (b: readonly z.core.$ZodIssue[]) => Math.max(...b.map((x) => x.path.length + (x.code === 'invalid_type' && x.path.length === 0 ? -1 : 0)));
    const best = [...i.errors].sort((a, b) => depth(b) - depth(a))[0]!;
    if (depth(best) <= 0) {
      out.push(i);
      continue;
    }
    out.push(...flattenUnions(best.map((x) => ({ ...x, path: [...i.path, ...x.path] }) as z.core.$ZodIssue)));
  }
  return out;
}

/**
 * Reads one seed file through the strict input reader. `file` is relative to `dir`; `display` is how
 * messages name it (default `file`).
 */
export function readSeedFile<S extends z.ZodType>(dir: string, file: string, schema: S, found?: Set<string>, kinds?: FieldKinds): Parsed<z.output<S>> {
  let text: string;
  try {
    text = readInputFile(dir, file, { maxBytes: MAX_SEED_FILE_BYTES, display: file });
  } catch (e) {
    if (!(e instanceof InputFileError)) throw e;
    // The UTF-8 check names the line as `file:line`.
    const line = e.file.startsWith(`${file}:`) ? Number(e.file.slice(file.length + 1)) : undefined;
    return { issues: [{ file, path: '', ...(line ? { line } : {}), message: e.reason }] };
  }
  return parseSeedText(file, text, schema, found, kinds);
}

/** Masks values recognised as secrets wherever another message might quote them. */
export function withoutSecrets(issues: SeedIssue[], found: ReadonlySet<string>): SeedIssue[] {
  if (found.size === 0) return issues;
  return issues.map((i) => {
    let message = i.message;
    for (const v of found) message = message.replaceAll(v, '***');
    return { ...i, message };
  });
}
