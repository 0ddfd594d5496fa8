/**
 * Parsing thousands of tenant files is CPU-bound (the yaml parser is ~0.2 ms a file). A worker
 * thread parses half of them while this thread parses the other half; the API stays synchronous
 * (the result is taken with receiveMessageOnPort after Atomics.wait). When the worker file is not
 * there (e.g. inside a bundled Lambda) or the batch is small, everything is parsed here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker, receiveMessageOnPort } from 'node:worker_threads';
import { parse } from 'yaml';

export type QuickParse = { ok: true; value: unknown } | { ok: false };

/** Below this many files a worker's start-up costs more than it saves. */
const PARALLEL_FROM = 800;

function parseHere(file: string): QuickParse {
  try {
    return { ok: true, value: parse(readFileSync(file, 'utf8'), { uniqueKeys: true, logLevel: 'silent' }) ?? null };
  } catch {
    return { ok: false };
  }
}

/** Parses every file to plain JS without positions; failures are re-parsed by the caller with positions. */
export function parseYamlFiles(files: readonly string[]): QuickParse[] {
  if (files.length < PARALLEL_FROM) return files.map(parseHere);
  let workerFile: string;
  try {
    workerFile = fileURLToPath(new URL('./yaml-worker.mjs', import.meta.url));
  } catch {
    return files.map(parseHere); // bundled as CommonJS: no import.meta.url
  }
  if (!existsSync(workerFile)) return files.map(parseHere);
  const half = Math.floor(files.length / 2);
  const mine = files.slice(0, half);
  const theirs = files.slice(half);
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  let worker: Worker;
  try {
    worker = new Worker(workerFile, { workerData: { files: theirs, port: port2, flag }, transferList: [port2], execArgv: [] });
  } catch {
    return files.map(parseHere);
  }
  let failed = false;
  worker.on('error', () => {
    failed = true;
    Atomics.store(flag, 0, 2);
    Atomics.notify(flag, 0);
  });
  const first = mine.map(parseHere);
  // 'error' events cannot fire while this thread blocks, so bound the wait and fall back.
  const status = Atomics.wait(flag, 0, 0, 60_000);
  const message = status !== 'timed-out' && !failed ? receiveMessageOnPort(port1) : undefined;
  port1.close();
  void worker.terminate();
  const second = (message?.message as QuickParse[] | undefined) ?? theirs.map(parseHere);
  return [...first, ...second];
}
