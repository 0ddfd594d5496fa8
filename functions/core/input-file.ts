/**
 * The one strict reader for files a user gives us (seed YAML, configuration, migrations).
 *
 * A file is read only when it is a regular file inside its folder (a symlink is followed only when its
 * target is a regular file inside the same folder), at most `maxBytes` long, and valid UTF-8. Every
 * refusal names the path the user gave and never quotes the file's content: a symlink to /etc/shadow
 * must not end up in an error message, a log line or the run history.
 */
import { closeSync, fstatSync, lstatSync, openSync, readSync, realpathSync, statSync, constants, type Stats } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { MigratorError } from './errors.ts';

/** Default size limit: far above any real seed or migration file, far below a memory problem. */
export const DEFAULT_MAX_INPUT_BYTES = 5 * 1024 * 1024;

/** An input file was refused before its content was used; nothing was written. */
export class InputFileError extends MigratorError {
  override name = 'InputFileError';
  constructor(
    /** The path as the user would name it (folder they gave + file name). */
    readonly file: string,
    /** Why, without any of the file's content. */
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
  }
}

export interface ReadInputOptions {
  /** Refuse files larger than this (bytes). Default {@link DEFAULT_MAX_INPUT_BYTES}. */
  readonly maxBytes?: number;
  /** How to name the file in errors; default `join(dir, name)`. */
  readonly display?: string;
}

/**
 * Read `name` (relative to `dir`) as UTF-8 text, strictly. Throws {@link InputFileError} when the file
 * is missing, not a regular file, a symlink leading out of `dir`, too large, or not valid UTF-8.
 */
export function readInputFile(dir: string, name: string, options: ReadInputOptions = {}): string {
  return decodeUtf8(readInputBytes(dir, name, options), options.display ?? join(dir, name));
}

/** {@link readInputFile} without the UTF-8 decoding: the checked bytes (for checksums). */
export function readInputBytes(dir: string, name: string, options: ReadInputOptions = {}): Buffer {
  const display = options.display ?? join(dir, name);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_INPUT_BYTES;
  const full = resolve(dir, name);
  checkInside(dir, full, display);
  let link;
  try {
    link = lstatSync(full);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputFileError(display, code === 'ENOENT' ? 'file not found' : `cannot be read (${code ?? 'error'})`);
  }
  if (link.isSymbolicLink()) {
    let target: string;
    try {
      target = realpathSync(full);
    } catch {
      throw new InputFileError(display, 'is a symbolic link whose target does not exist');
    }
    let root: string;
    try {
      root = realpathSync(dir);
    } catch {
      root = resolve(dir);
    }
    if (!isInside(root, target)) {
      throw new InputFileError(display, 'is a symbolic link to a file outside its folder; refusing to read it (copy the file into the folder instead)');
    }
    if (!statSync(target).isFile()) throw new InputFileError(display, 'is a symbolic link to something that is not a regular file');
  } else if (!link.isFile()) {
    throw new InputFileError(display, `is not a regular file (${kindOf(link)}); refusing to read it`);
  }
  // Open without following a swapped-in link, then check the opened file itself (no TOCTOU on size).
  const fd = openSync(full, constants.O_RDONLY | (link.isSymbolicLink() ? 0 : constants.O_NOFOLLOW));
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new InputFileError(display, 'is not a regular file; refusing to read it');
    if (st.size > maxBytes) throw new InputFileError(display, tooLarge(st.size, maxBytes));
    // Read at most maxBytes + 1: a file that grows while we read is still bounded.
    const buffer = Buffer.allocUnsafe(Math.min(st.size, maxBytes) + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > maxBytes) throw new InputFileError(display, tooLarge(length, maxBytes));
      if (length === buffer.length) break;
    }
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

/** Decode bytes as UTF-8 or throw naming the line of the first invalid byte (never the bytes themselves). */
export function decodeUtf8(bytes: Uint8Array, display: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    const offset = firstInvalidUtf8(bytes);
    let line = 1;
    for (let i = 0; i < offset; i++) if (bytes[i] === 0x0a) line++;
    throw new InputFileError(
      `${display}:${line}`,
      'is not valid UTF-8 (save the file as UTF-8; Latin-1 or Windows-1252 text is not accepted)',
    );
  }
}

function firstInvalidUtf8(bytes: Uint8Array): number {
  // Lenient decoding replaces each bad sequence with U+FFFD; re-encoded, the first byte that differs
  // from the input is the first invalid one (a genuine U+FFFD in the file re-encodes to itself).
  const again = Buffer.from(new TextDecoder('utf-8').decode(bytes), 'utf8');
  let i = 0;
  while (i < bytes.length && i < again.length && bytes[i] === again[i]) i++;
  return i;
}

function checkInside(dir: string, full: string, display: string): void {
  if (!isInside(resolve(dir), full)) throw new InputFileError(display, 'is outside its folder; refusing to read it');
}

function isInside(root: string, target: string): boolean {
  const rel = relative(root, target);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a named pipe';
  if (st.isSocket()) return 'a socket';
  return 'a special file';
}

function tooLarge(size: number, max: number): string {
  const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `is larger than the ${mb(max)} limit for input files (at least ${mb(size)}); split it or check that it is the right file`;
}
