import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { InputFileError, readInputFile } from '../../functions/core/input-file.ts';

const dirs: string[] = [];
function folder(): string {
  const d = mkdtempSync(join(tmpdir(), 'input-file-'));
  dirs.push(d);
  return d;
}
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function refusal(dir: string, name: string, options = {}): InputFileError {
  try {
    readInputFile(dir, name, options);
  } catch (error) {
    expect(error).toBeInstanceOf(InputFileError);
    return error as InputFileError;
  }
  throw new Error(`${name} was read`);
}

describe('readInputFile: the one strict reader for user files', () => {
  it('reads a regular UTF-8 file, and a symlink to a regular file inside the same folder', () => {
    const d = folder();
    writeFileSync(join(d, 'a.yaml'), 'name: Café\n');
    symlinkSync('a.yaml', join(d, 'b.yaml'));
    expect(readInputFile(d, 'a.yaml')).toBe('name: Café\n');
    expect(readInputFile(d, 'b.yaml')).toBe('name: Café\n');
  });

  it('refuses a symlink out of the folder without quoting the target', () => {
    const d = folder();
    const outside = folder();
    writeFileSync(join(outside, 'secret'), 'root:$6$very-secret-hash:19000:0:99999:7:::\n');
    symlinkSync(join(outside, 'secret'), join(d, 'catalog.yaml'));
    const e = refusal(d, 'catalog.yaml');
    expect(e.message).toContain(join(d, 'catalog.yaml'));
    expect(e.message).toMatch(/symbolic link to a file outside its folder/);
    expect(e.message).not.toContain('very-secret-hash');
  });

  it('refuses special files (a character device, a named pipe, a directory) before reading them', () => {
    const d = folder();
    symlinkSync('/dev/zero', join(d, 'zero.yaml'));
    expect(refusal(d, 'zero.yaml').message).toMatch(/outside its folder/);
    execFileSync('mkfifo', [join(d, 'pipe.yaml')]);
    expect(refusal(d, 'pipe.yaml').message).toMatch(/named pipe/);
    mkdirSync(join(d, 'dir.yaml'));
    expect(refusal(d, 'dir.yaml').message).toMatch(/a directory/);
  });

  it('refuses a file over the size limit, naming the limit', () => {
    const d = folder();
    writeFileSync(join(d, 'big.yaml'), 'x'.repeat(2048));
    expect(refusal(d, 'big.yaml', { maxBytes: 1024 }).message).toMatch(/larger than the 0\.0 MB limit/);
    expect(readInputFile(d, 'big.yaml', { maxBytes: 4096 })).toHaveLength(2048);
  });

  it('refuses bytes that are not UTF-8, naming the line, and keeps a real U+FFFD', () => {
    const d = folder();
    writeFileSync(join(d, 'latin1.yaml'), Buffer.concat([Buffer.from('a: 1\nname: Caf'), Buffer.from([0xe9]), Buffer.from('\n')]));
    const e = refusal(d, 'latin1.yaml');
    expect(e.message).toContain(`${join(d, 'latin1.yaml')}:2`);
    expect(e.message).toMatch(/not valid UTF-8/);
    writeFileSync(join(d, 'ok.yaml'), 'a: \uFFFD\n');
    expect(readInputFile(d, 'ok.yaml')).toBe('a: \uFFFD\n');
  });

  it('refuses a missing file and a name that leaves the folder, with the name the user gave', () => {
    const d = folder();
    expect(refusal(d, 'nope.yaml', { display: 'seeds/nope.yaml' }).message).toBe('seeds/nope.yaml: file not found');
    expect(refusal(d, '../x.yaml').message).toMatch(/outside its folder/);
  });
});
