/**
 * Parsing thousands of tenant files is CPU-bound (the yaml parser costs ~0.2 ms a file), so:
 * - a cache keyed by each file's content hash skips files parsed before (a re-run of an unchanged
 *   seeds folder parses nothing); it is only a parse cache: every value is still validated with zod;
 * - the files that must be parsed are split between this thread and a worker thread. The API stays
 *   synchronous (the worker's result is taken with receiveMessageOnPort after Atomics.wait). Without
 *   the worker file (e.g. inside a bundled Lambda) everything is parsed here.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker, receiveMessageOnPort } from 'node:worker_threads';
import { parse } from 'yaml';

export type QuickParse = { ok: true; value: unknown } | { ok: false };

/** Below this many files a worker's start-up costs more than it saves. */
const PARALLEL_FROM = 800;
/** Below this many files the cache is not worth its I/O. */
const CACHE_FROM = 300;

function parseText(text: string): QuickParse {
  try {
    return { ok: true, value: parse(text, { uniqueKeys: true, logLevel: 'silent' }) ?? null };
  } catch {
    return { ok: false };
  }
}

/**
 * The cache file, in a per-user directory under the OS temp dir that only this user can write
 * (checked, so another local user cannot plant parsed values). Off with MIGRATOR_SEED_CACHE=off.
 */
export function parseCacheFile(): string | undefined {
  if (process.env.MIGRATOR_SEED_CACHE === 'off') return undefined;
  try {
    const uid = process.getuid?.() ?? 0;
    const dir = join(tmpdir(), `migrator-seed-cache-${uid}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = statSync(dir);
    if (st.uid !== uid || (st.mode & 0o077) !== 0) return undefined;
    return join(dir, 'tenants.json');
  } catch {
    return undefined;
  }
}

function parseInWorker(texts: readonly string[]): QuickParse[] {
  let workerFile: string;
  try {
    workerFile = fileURLToPath(new URL('./yaml-worker.mjs', import.meta.url));
  } catch {
    return texts.map(parseText); // bundled as CommonJS: no import.meta.url
  }
  if (texts.length < PARALLEL_FROM || !existsSync(workerFile)) return texts.map(parseText);
  const half = Math.floor(texts.length / 2);
  const mine = texts.slice(0, half);
  const theirs = texts.slice(half);
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  let worker: Worker;
  try {
    worker = new Worker(workerFile, { workerData: { texts: theirs, port: port2, flag }, transferList: [port2], execArgv: [] });
  } catch {
    return texts.map(parseText);
  }
  let failed = false;
  worker.on('error', () => {
    failed = true;
  });
  const first = mine.map(parseText);
  // 'error' events cannot fire while this thread blocks, so bound the wait and fall back.
  const status = Atomics.wait(flag, 0, 0, 60_000);
  const message = status !== 'timed-out' && !failed ? receiveMessageOnPort(port1) : undefined;
  port1.close();
  void worker.terminate();
  const second = (message?.message as QuickParse[] | undefined) ?? theirs.map(parseText);
  return [...first, ...second];
}

/** Parses every file to plain JS without positions; failures are re-parsed by the caller with positions. */
export function parseYamlFiles(files: readonly string[], options: { cache?: boolean } = {}): QuickParse[] {
  const texts = files.map((f) => readFileSync(f, 'utf8'));
  const file = options.cache !== false && files.length >= CACHE_FROM ? parseCacheFile() : undefined;
  let cache: Record<string, unknown> = {};
  if (file) {
    try {
      cache = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch {
      cache = {};
    }
  }
  const keys = texts.map((t) => createHash('sha256').update(t).digest('base64url'));
  const results: QuickParse[] = new Array(files.length);
  const missing: number[] = [];
  keys.forEach((k, i) => {
    if (Object.hasOwn(cache, k)) results[i] = { ok: true, value: cache[k] };
    else missing.push(i);
  });
  const parsed = parseInWorker(missing.map((i) => texts[i] as string));
  missing.forEach((i, j) => (results[i] = parsed[j] as QuickParse));
  if (file && missing.length > 0) {
    // Only this folder's entries are kept, so the file stays the size of one seeds folder.
    const next: Record<string, unknown> = {};
    results.forEach((r, i) => {
      // JSON cannot hold .inf/.nan; such files are simply parsed every time.
      if (r.ok && !/\.(inf|nan)\b/i.test(texts[i] as string)) next[keys[i] as string] = r.value;
    });
    try {
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(next), { mode: 0o600 });
      renameSync(tmp, file);
    } catch {
      // A cache that cannot be written only costs time.
    }
  }
  return results;
}
