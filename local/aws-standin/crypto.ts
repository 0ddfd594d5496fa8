/**
 * The ciphertext blob format and AES-256-GCM sealing behind KMS Encrypt/Decrypt.
 *
 * Blob: [0x01][key id length: 1 byte][key id, utf8][iv: 12][tag: 16][ciphertext].
 * Like a real KMS blob it names its key, so Decrypt needs no KeyId. The header and the canonical
 * encryption context are the GCM additional authenticated data: changing either, or the context
 * given at Decrypt, makes authentication fail.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const VERSION = 0x01;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;

export type EncryptionContext = Record<string, string>;

/** Sorted-key JSON of the context; a missing and an empty context are the same, as in KMS. */
export function canonicalContext(context: EncryptionContext | undefined): Buffer {
  if (!context) return Buffer.alloc(0);
  const entries = Object.keys(context)
    .sort()
    .map((k) => [k, context[k]]);
  return entries.length === 0 ? Buffer.alloc(0) : Buffer.from(JSON.stringify(entries), 'utf8');
}

export function seal(keyId: string, material: Buffer, plaintext: Buffer, context: EncryptionContext | undefined): Buffer {
  const id = Buffer.from(keyId, 'utf8');
  const header = Buffer.concat([Buffer.from([VERSION, id.length]), id]);
  const iv = randomBytes(IV_LENGTH);
  const cipher = createCipheriv('aes-256-gcm', material, iv);
  cipher.setAAD(Buffer.concat([header, canonicalContext(context)]));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([header, iv, cipher.getAuthTag(), ct]);
}

export interface ParsedBlob {
  keyId: string;
  header: Buffer;
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

/** Null when the bytes are not a blob of ours at all. */
export function parseBlob(blob: Buffer): ParsedBlob | null {
  if (blob.length < 2 || blob[0] !== VERSION) return null;
  const idLength = blob[1]!;
  const start = 2 + idLength;
  if (idLength === 0 || blob.length < start + IV_LENGTH + TAG_LENGTH) return null;
  return {
    keyId: blob.subarray(2, start).toString('utf8'),
    header: blob.subarray(0, start),
    iv: blob.subarray(start, start + IV_LENGTH),
    tag: blob.subarray(start + IV_LENGTH, start + IV_LENGTH + TAG_LENGTH),
    ciphertext: blob.subarray(start + IV_LENGTH + TAG_LENGTH),
  };
}

/** Null when authentication fails (wrong key, wrong context, tampered bytes). */
export function open(parsed: ParsedBlob, material: Buffer, context: EncryptionContext | undefined): Buffer | null {
  try {
    const decipher = createDecipheriv('aes-256-gcm', material, parsed.iv);
    decipher.setAAD(Buffer.concat([parsed.header, canonicalContext(context)]));
    decipher.setAuthTag(parsed.tag);
    return Buffer.concat([decipher.update(parsed.ciphertext), decipher.final()]);
  } catch {
    return null;
  }
}
