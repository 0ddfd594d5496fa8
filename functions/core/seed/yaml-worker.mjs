// Parses a share of the tenant files off the main thread (plain JS so it needs no TypeScript loader).
// Results go back through a MessagePort the main thread reads synchronously (see parallel-yaml.ts).
import { workerData } from 'node:worker_threads';
import { parse } from 'yaml';

const { texts, port, flag } = workerData;
const results = texts.map((text) => {
  try {
    return { ok: true, value: parse(text, { uniqueKeys: true, logLevel: 'silent' }) ?? null };
  } catch {
    // The main thread re-parses this file to report the error with its position.
    return { ok: false };
  }
});
port.postMessage(results);
Atomics.store(flag, 0, 1);
Atomics.notify(flag, 0);
